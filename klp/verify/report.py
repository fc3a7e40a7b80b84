"""``klp verify``'s report: the JSON document, and the same for a person."""

from __future__ import annotations

import sys
from typing import Any

from klp.convert.diagnostics import problem_json, registration_json, render_problem
from klp.render import console, markup, plural, shown, table_or_cards
from klp.symdb.model import SymbolRecord
from klp.verify.check import Verdict


def report(module: str, target: dict[str, str], verdict: Verdict) -> dict[str, Any]:
    """The ``--json`` document (schema in docs/reference.md)."""
    registration = verdict.registration
    return {
        "module": module,
        "target": target,
        "status": "problems" if verdict.problems else "ok",
        "symbols": [{
            "klp_symbol": b.symbol, "object": b.obj, "name": b.name, "position": b.pos,
            "relocations": b.uses, "binds_to": _record(b.lands),
            "binds_late_to": _record(b.late), "problem": b.problem,
        } for b in verdict.bindings],
        "functions": [{
            "object": f.obj, "old_name": f.old_name, "old_sympos": f.old_sympos,
            "binds_to": _record(f.lands), "problem": f.problem,
            "inlined_into": f.inlined_into,
        } for f in verdict.functions],
        "registration": registration_json(registration),
        "problems": [problem_json(p) for p in verdict.problems],
        "warnings": verdict.warnings,
    }


def _record(record: SymbolRecord | None) -> dict[str, object] | None:
    return None if record is None else record.as_dict()


def render(doc: dict[str, Any]) -> None:
    """Tables on a terminal (cards when narrow); the same rows as plain lines when
    piped and clean."""
    if not doc["problems"] and not sys.stdout.isatty():
        _render_plain(doc)
        return
    out, err = console(), console(stderr=True)
    for warning in doc["warnings"]:
        err.print(f"[yellow]warning:[/] {markup(warning)}")
    target = doc["target"]
    if doc["symbols"]:
        table_or_cards(
            out, f"{markup(doc['module'])}: klp symbols on {markup(target['path'])}",
            ("object", "name", "position", "binds to", "type", "size", "file", "uses"),
            [[markup(s["object"]), markup(s["name"]), str(s["position"]),
              *_lands(s["binds_to"], s["binds_late_to"]), str(s["relocations"])]
             for s in doc["symbols"]], primary=3)
    if doc["functions"]:
        table_or_cards(
            out, "functions the patch replaces",
            ("object", "old_name", "old_sympos", "binds to", "type", "size", "file"),
            [[markup(f["object"]), markup(f["old_name"]), str(f["old_sympos"]),
              *_lands(f["binds_to"], None)] for f in doc["functions"]], primary=3)
    for problem in doc["problems"]:
        render_problem(err, problem, force="klp convert --force")
    if doc["problems"]:
        err.print(f"[bold red]klp verify: {plural(len(doc['problems']), 'problem')}[/]")
    else:
        out.print(markup(_summary(doc)))


def _lands(record: dict[str, Any] | None, late: dict[str, Any] | None) -> list[str]:
    """Cells for where a symbol binds: address, type, size, file ("-" when it does not)."""
    if record is None:
        return ["[red]-[/]", "", "", ""]
    where = markup(record["address"])
    if late is not None:
        where += f" (loading after: {markup(late['address'])})"
    size = "?" if record["size"] is None else str(record["size"])
    return [where, markup(record["type"]), size, markup(record["file"] or "?")]


def _summary(doc: dict[str, Any]) -> str:
    target = doc["target"]
    built = target.get("converted_with") or target.get("converted_for")
    return (f"{doc['module']}: {plural(len(doc['symbols']), 'klp symbol')} and "
            f"{plural(len(doc['functions']), 'function')} bind on {target['path']}"
            + (f"; positions checked against {built}, the build it was converted for"
               if built else ""))


def _render_plain(doc: dict[str, Any]) -> None:
    for warning in doc["warnings"]:
        print(f"warning: {shown(warning)}", file=sys.stderr)
    for s in doc["symbols"]:
        lands = s["binds_to"]["address"] if s["binds_to"] else "-"
        print("\t".join(map(shown, (s["klp_symbol"], lands))))
    print(shown(_summary(doc)))
