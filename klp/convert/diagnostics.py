"""Render a conversion plan and its problems: rich on a terminal, JSON for tools."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

from klp.convert.model import Plan, Problem


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
                "references": [asdict(ref) for ref in r.references],
            }
            for r in plan.resolutions
        ],
        "sections": list(sections.values()),
        "registration": None if plan.registration is None else {
            "objects": None if plan.registration.objects is None
            else [o.object for o in plan.registration.objects],
            "source": plan.registration.source,
        },
        "problems": [
            {**asdict(p), "candidates": [c.as_dict() for c in p.candidates]} for p in problems
        ],
        "warnings": plan.warnings,
    }


def render(doc: dict[str, Any], *, dry_run: bool) -> None:
    if not doc["problems"] and not sys.stdout.isatty() and not sys.stderr.isatty():
        _render_plain(doc, dry_run=dry_run)  # no rich import on the common, scripted path
        return
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if not out.is_terminal:
        out = Console(width=160, highlight=False)
    if not err.is_terminal:
        err = Console(stderr=True, width=160, highlight=False)
    for warning in doc["warnings"]:
        err.print(f"[yellow]warning:[/] {warning}")
    if doc["symbols"] and (dry_run or doc["problems"] == []):
        table = Table(title=f"{doc['input']}: relocations to convert", header_style="bold")
        for col in ("symbol", "object", "position", "why", "relocations"):
            table.add_column(col)
        for sym in doc["symbols"]:
            table.add_row(sym["symbol"], sym["object"], str(sym["position"]), _why(sym),
                          ", ".join(f"{r['target']}+{r['offset']:#x} {r['type']}"
                                    for r in sym["references"]))
        out.print(table)
    for problem in doc["problems"]:
        _render_problem(err, problem)
    if doc["problems"]:
        count = len(doc["problems"])
        err.print(f"[bold red]klp convert: {count} problem{'s' if count > 1 else ''}; "
                  "nothing written[/]")
    elif not dry_run:
        out.print(_summary(doc))


def _summary(doc: dict[str, Any]) -> str:
    if doc["status"] == "already-converted":
        return f"{doc['input']}: already converted; left as it is"
    moved = sum(s["relocations"] for s in doc["sections"])
    return (f"{doc['output']}: {len(doc['symbols'])} symbols, {moved} relocations in "
            f"{len(doc['sections'])} livepatch sections")


def _why(sym: dict[str, Any]) -> str:
    return f"{sym['reason']} in {sym['source']}" if sym["source"] else sym["reason"]


def _render_plain(doc: dict[str, Any], *, dry_run: bool) -> None:
    for warning in doc["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    for sym in doc["symbols"]:
        refs = ", ".join(f"{r['target']}+{r['offset']:#x} {r['type']}" for r in sym["references"])
        print(f"{sym['klp_symbol']}\t{_why(sym)}\t{refs}")
    if not dry_run:
        print(_summary(doc))


def _render_problem(err: Any, problem: dict[str, Any]) -> None:
    from rich.table import Table

    err.print(f"[bold red]error[/] ({problem['kind']}): {problem['message']}")
    for ref in problem["references"]:
        err.print(f"  used by {ref['section']}: {ref['target']}+{ref['offset']:#x} "
                  f"{ref['type']}")
    if problem["candidates"]:
        table = Table(header_style="bold", pad_edge=False)
        for col in ("object", "position", "type", "bind", "size", "file", "exported",
                    "address"):
            table.add_column(col)
        for c in problem["candidates"]:
            table.add_row(c["obj"], str(c["pos"]), c["type"], c["bind"], str(c["size"]),
                          c["file"] or "?", "yes" if c["exported"] else "no", c["address"])
        err.print(table)
    if problem["suggestions"]:
        if problem["candidates"]:
            err.print("  select one with an annotation in the livepatch source "
                      "(#include <klp-reloc.h>):")
        for line in problem["suggestions"]:
            err.print(f"    {line}")
