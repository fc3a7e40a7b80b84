"""``klp symdb build`` and ``klp symdb query``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Build and query the symbol database.", no_args_is_help=True)


@app.command()
def build(
    paths: Annotated[list[Path] | None, typer.Argument(help="Explicit objects to scan.")] = None,
    kernel_tree: Annotated[Path | None, typer.Option(help="A kernel build tree.")] = None,
    vmlinux: Annotated[Path | None, typer.Option(help="vmlinux with its .symtab.")] = None,
    system_map: Annotated[
        Path | None, typer.Option(help="System.map (instead of vmlinux).")
    ] = None,
    modules: Annotated[Path | None, typer.Option(help="A /lib/modules/<release> tree.")] = None,
    symvers: Annotated[Path | None, typer.Option(help="Module.symvers (exports).")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write.")] = Path(
        "symbols.klp"),
    jobs: Annotated[int, typer.Option("-j", "--jobs", help="Parallel scanners (0: all cores).")
                    ] = 0,
    keep_going: Annotated[bool, typer.Option(help="Skip unreadable objects.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="klp (default) or klp-convert-0.1.")
                   ] = "klp",
) -> None:
    """Scan a kernel into symbols.klp, in the order the kernel counts positions."""
    from klp.elfcodec.writer import write_bytes_atomic
    from klp.errors import InputError
    from klp.symdb import build as b
    from klp.symdb import format as f
    from klp.symvers import read_symvers

    if fmt not in ("klp", "klp-convert-0.1"):
        raise InputError(f"unknown --format {fmt!r} (klp or klp-convert-0.1)")
    start = time.perf_counter()
    def opt(p: Path | None) -> str | None:
        return str(p) if p else None

    src = b.find_sources(opt(kernel_tree), opt(vmlinux), opt(system_map), opt(modules),
                         opt(symvers), [str(p) for p in paths or []])
    result = b.build(src, jobs or b.default_jobs(), keep_going, sys.stderr.isatty())
    exported = read_symvers(src.symvers).vmlinux if src.symvers else set()
    encoder = f.encode if fmt == "klp" else f.encode_upstream
    write_bytes_atomic(str(output), encoder(result.objects, exported))
    symbols = sum(len(o.records) for o in result.objects)
    from collections import Counter

    ambiguous = sum(sum(1 for c in Counter(r.name for r in o.records).values() if c > 1)
                    for o in result.objects)
    from rich.console import Console

    err = Console(stderr=True, highlight=False)
    for skipped in result.skipped:
        err.print(f"[yellow]skipped[/] {skipped}")
    summary = (f"{output}: {len(result.objects)} objects, {symbols} symbols"
               + f", {ambiguous} ambiguous names"
               + f", {len(result.livepatches)} livepatch modules left out"
               + f", {time.perf_counter() - start:.2f} s")
    err.print(summary)


@app.command()
def query(
    names: Annotated[list[str], typer.Argument(help="Symbol names.")],
    symdb: Annotated[Path, typer.Option("--symdb", help="symbols.klp")] = Path("symbols.klp"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show every definition of NAME: object, position, address, type, size, file."""
    from dataclasses import asdict

    from klp.symdb.format import SymbolDB

    db = SymbolDB(str(symdb))
    found = db.definitions(names)
    if as_json:
        json.dump({n: [asdict(d) for d in found.get(n, [])] for n in names}, sys.stdout,
                  indent=1)
        sys.stdout.write("\n")
    else:
        from klp.render import print_table

        rows = [{"name": n, **asdict(d)} for n in names for d in found.get(n, [])]
        print_table(f"{symdb}", rows, columns=("name", "obj", "pos", "count", "type", "bind",
                                               "size", "address", "file", "exported"))
    if any(n not in found for n in names):
        raise typer.Exit(1)
