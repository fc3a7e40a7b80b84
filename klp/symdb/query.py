"""``klp symdb query``: every definition of a few names, as a table or as JSON."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from klp.symdb import variants
from klp.symdb.format import SymbolDB
from klp.symdb.model import SymbolRecord

COLUMNS = ("name", "obj", "pos", "sympos", "address", "letter", "type", "bind", "size",
           "file", "exported")


def query(db: SymbolDB, names: Sequence[str]) -> dict[str, list[SymbolRecord]]:
    """Every definition of each name (an unknown name maps to an empty list)."""
    found = db.lookup(names)
    return {n: found.get(n, []) for n in names}


def to_json(path: str, db: SymbolDB, found: dict[str, list[SymbolRecord]]) -> dict[str, Any]:
    return {
        "symdb": path,
        "format": db.format,
        "release": db.kernel_release,
        "symbols": {n: [r.as_dict() for r in recs] for n, recs in found.items()},
    }


def print_json(path: str, db: SymbolDB, found: dict[str, list[SymbolRecord]]) -> None:
    from klp import render

    render.print_json(to_json(path, db, found))


def _row(r: SymbolRecord) -> dict[str, Any]:
    sympos = r.sympos
    return {
        "name": r.name, "obj": r.obj,
        "pos": f"{r.pos}/{r.count}" + ("" if r.load_order_safe
                                       else f" (late {r.late_pos}/{r.late_count})"),
        "sympos": "load-order dependent" if sympos is None else str(sympos),
        "address": r.address, "letter": r.letter, "type": r.type, "bind": r.bind,
        "size": "?" if r.size is None else str(r.size), "file": r.file or "",
        "exported": r.exported,
    }


def print_table(path: str, db: SymbolDB, found: dict[str, list[SymbolRecord]]) -> None:
    """The definitions as a listing (plain text when piped); each name without one, and
    the names that look like it, on stderr."""
    from klp.render import print_rows, shown

    rows = [_row(r) for recs in found.values() for r in recs]
    release = f" ({db.kernel_release})" if db.kernel_release else ""
    if rows:
        print_rows(f"{path}{release}", COLUMNS, rows)
    for name in (n for n, recs in found.items() if not recs):
        line = f"{shown(name)}: not in {shown(path)}{_hint(db, name)}"
        if sys.stderr.isatty():
            from klp.render import console, markup

            console(stderr=True, soft_wrap=True).print(f"[yellow]{markup(line)}[/]")
        else:
            sys.stderr.write(line + "\n")


def _hint(db: SymbolDB, name: str) -> str:
    """The compiler's names for an unknown name (variants.py), else the names like it."""
    from klp.render import shown

    found = variants.variants(name, db.names_like(name))
    if found:
        groups: dict[variants.VariantKind, list[str]] = {}
        for v in found[:variants.HINTS]:
            groups.setdefault(v.kind, []).append(shown(v.name))
        listed = "; ".join(f"{kind.label}: {', '.join(names)}" for kind, names in groups.items())
        more = f"; and {len(found) - variants.HINTS} more" if len(found) > variants.HINTS else ""
        return f"; the compiler's names for it: {listed}{more}"
    hints = db.closest(name, 3)
    return f"; did you mean {', '.join(map(shown, hints))}?" if hints else ""
