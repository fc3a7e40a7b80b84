"""Render a conversion plan and its problems: rich on a terminal, JSON for tools."""

from __future__ import annotations

import sys
from typing import Any

from klp.convert.model import Plan, Problem
from klp.livepatch.registration import Registration
from klp.render import markup, plural, shown


def report(path: str, output: str | None, status: str, plan: Plan,
           problems: list[Problem]) -> dict[str, Any]:
    """The ``--json`` document (schema in docs/reference.md)."""
    sections: dict[str, dict[str, Any]] = {}
    for move in plan.moves:
        entry = sections.setdefault(move.klp_section, {
            "name": move.klp_section, "object": move.obj, "target": move.target_section,
            "relocations": 0})
        entry["relocations"] += len(move.rows)
    return {
        "input": path,
        "output": output,
        "status": status,
        "symbols": [
            {
                "symbol": r.name,
                "object": r.obj,
                "position": r.pos,
                "klp_symbol": r.klp_name,
                "reason": r.reason,
                "source": r.source,
                "references": [ref._asdict() for ref in r.references],
            }
            for r in plan.resolutions
        ],
        "sections": list(sections.values()),
        "registration": registration_json(plan.registration),
        "problems": [problem_json(p) for p in problems],
        "warnings": plan.warnings,
    }


def registration_json(registration: Registration | None) -> dict[str, Any] | None:
    """The klp_objects a patch registers, as the ``--json`` documents show them."""
    if registration is None:
        return None
    return {"objects": None if registration.objects is None
            else [o.object for o in registration.objects], "source": registration.source}


def problem_json(problem: Problem) -> dict[str, Any]:
    """A problem as the ``--json`` documents show it."""
    return {"kind": problem.kind, "symbol": problem.symbol, "message": problem.message,
            "references": [ref._asdict() for ref in problem.references],
            "candidates": [c.as_dict() for c in problem.candidates],
            "suggestions": problem.suggestions, "forcible": problem.forcible}


def render(doc: dict[str, Any], *, dry_run: bool) -> None:
    if not doc["problems"] and not sys.stdout.isatty() and not sys.stderr.isatty():
        _render_plain(doc, dry_run=dry_run)  # no rich import on the common, scripted path
        return
    from klp.render import console, table_or_cards

    out, err = console(), console(stderr=True)
    for warning in doc["warnings"]:
        err.print(f"[yellow]warning:[/] {markup(warning)}")
    if doc["symbols"] and (dry_run or doc["problems"] == []):
        table_or_cards(out, f"{markup(doc['input'])}: relocations to convert",
                       ("symbol", "object", "position", "why", "relocations"),
                       [[markup(sym["symbol"]), markup(sym["object"]), str(sym["position"]),
                         markup(_why(sym)), markup(", ".join(map(_place, sym["references"])))]
                        for sym in doc["symbols"]], primary=3)
    for problem in doc["problems"]:
        render_problem(err, problem)
    if doc["problems"]:
        err.print(f"[bold red]klp convert: {plural(len(doc['problems']), 'problem')}; "
                  "nothing written[/]")
    elif not dry_run:
        out.print(markup(_summary(doc)))


def _summary(doc: dict[str, Any]) -> str:
    if doc["status"] == "already-converted":
        return f"{doc['input']}: already converted; left as it is"
    moved = sum(s["relocations"] for s in doc["sections"])
    return (f"{doc['output']}: {plural(len(doc['symbols']), 'symbol')}, "
            f"{plural(moved, 'relocation')} in {plural(len(doc['sections']), 'livepatch section')}")


def _why(sym: dict[str, Any]) -> str:
    return f"{sym['reason']} in {sym['source']}" if sym["source"] else sym["reason"]


def _place(ref: dict[str, Any]) -> str:
    """Where a relocation is: section+offset and type, short (for the plan)."""
    return f"{ref['target']}+{ref['offset']:#x} {ref['type']}"


def _use(ref: dict[str, Any]) -> str:
    """Where a relocation is, as a person looks for it: the function (and line) first."""
    if ref.get("function"):
        line = f" ({ref['line']})" if ref.get("line") else ""
        return f"used in {ref['function']}{line}: {_place(ref)}"
    return f"used by {ref['section']}: {_place(ref)}"


def _render_plain(doc: dict[str, Any], *, dry_run: bool) -> None:
    for warning in doc["warnings"]:
        print(f"warning: {shown(warning)}", file=sys.stderr)
    for sym in doc["symbols"]:
        refs = ", ".join(map(_place, sym["references"]))
        print("\t".join(map(shown, (sym["klp_symbol"], _why(sym), refs))))
    if not dry_run:
        print(shown(_summary(doc)))


def render_problem(err: Any, problem: dict[str, Any], force: str = "--force") -> None:
    """One problem; ``force`` names the option that overrides a forcible one."""
    from klp.render import table_or_cards

    forcible = f" [dim]({force} overrides)[/]" if problem.get("forcible") else ""
    message, symbol = problem["message"], problem["symbol"]
    if symbol and symbol not in message:  # say which symbol (verify's binding problems)
        message = f"{symbol}: {message}"
    err.print(f"[bold red]error[/] ({problem['kind']}): {markup(message)}{forcible}")
    for ref in problem["references"]:
        err.print(f"  {markup(_use(ref))}")
    if problem["candidates"]:
        table_or_cards(err, None, ("position", "object", "type", "bind", "size", "file",
                                   "exported", "address"),
                       [[str(c["pos"]), markup(c["obj"]), c["type"], c["bind"], str(c["size"]),
                         markup(c["file"] or "?"), "yes" if c["exported"] else "no",
                         markup(c["address"])] for c in problem["candidates"]],
                       primary=2, indent=2)
    if problem["suggestions"]:
        if problem["candidates"]:
            err.print("  select one with an annotation in the livepatch source "
                      "(#include <klp-reloc.h>):")
        for line in problem["suggestions"]:
            err.print(f"    {markup(line)}")
