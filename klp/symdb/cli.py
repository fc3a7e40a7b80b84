"""``klp symdb build`` and ``klp symdb query`` (mounted by klp/cli.py as ``klp symdb``).

Heavy modules are imported inside the commands, so ``klp --help`` stays fast.
docs/reference.md quotes every option's help (tests/test_docs.py checks it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Build and query the symbol database.", no_args_is_help=True)


@app.command()
def build(
    paths: Annotated[list[Path] | None, typer.Argument(
        metavar="PATHS...", show_default=False,
        help="Objects to scan: a linked image (ET_EXEC, ET_DYN) is the vmlinux, anything "
             "else a module (.ko, .o).")] = None,
    kernel_tree: Annotated[Path | None, typer.Option(
        metavar="DIR", help="A kernel build tree: its vmlinux, the modules of modules.order "
                            "(the .ko, else the .o) and its Module.symvers.")] = None,
    vmlinux: Annotated[Path | None, typer.Option(
        metavar="FILE", help="vmlinux with its .symtab (e.g. Debian's -dbg vmlinux).")] = None,
    system_map: Annotated[Path | None, typer.Option(
        metavar="FILE", help="System.map: vmlinux positions in its order (with --vmlinux: "
                             "checked against it).")] = None,
    modules: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Every .ko, .ko.xz, .ko.zst, .ko.gz below DIR, e.g. "
                            "/lib/modules/6.1.0-57-amd64 (symlinked folders are not "
                            "followed).")
    ] = None,
    symvers: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Module.symvers (exports).")] = None,
    output: Annotated[Path, typer.Option(
        "-o", "--output", metavar="FILE", help="Where to write.")] = Path("symbols.klp"),
    jobs: Annotated[int, typer.Option(
        "-j", "--jobs", metavar="N", help="Parallel scanners (0: every core).")] = 0,
    keep_going: Annotated[bool, typer.Option(
        "--keep-going",
        help="Skip unreadable or malformed modules (and say so) instead of failing.")] = False,
    fmt: Annotated[str, typer.Option(
        "--format", metavar="FORMAT",
        help="klp, or klp-convert-0.1 (the upstream proposal's format).")] = "klp",
) -> None:
    """Scan a kernel into symbols.klp, with positions as the running kernel counts them."""
    from klp.elfcodec.writer import write_bytes_atomic
    from klp.errors import InputError
    from klp.render import console, markup, plural
    from klp.symdb.build import build as run_build
    from klp.symdb.build import default_jobs
    from klp.symdb.format import FORMATS
    from klp.symdb.sources import find_sources

    if fmt not in FORMATS:
        raise InputError(f"unknown --format {fmt!r} ({' or '.join(FORMATS)})")
    if jobs < 0:
        raise InputError("--jobs must be 0 (every core) or more")

    def opt(p: Path | None) -> str | None:
        return None if p is None else str(p)

    src = find_sources(kernel_tree=opt(kernel_tree), vmlinux=opt(vmlinux),
                       system_map=opt(system_map), modules_dir=opt(modules),
                       symvers=opt(symvers), paths=[str(p) for p in paths or []])
    err = console(stderr=True, soft_wrap=True)
    result = run_build(src, jobs=jobs or default_jobs(), keep_going=keep_going, fmt=fmt,
                       progress=err.is_terminal)
    write_bytes_atomic(str(output), result.data)
    for skipped in result.skipped:
        err.print(f"[yellow]skipped[/] {markup(skipped)}")
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {markup(warning)}")
    extra = ""
    if result.load_order:
        extra += (f", {plural(result.load_order, 'module symbol')} with a "
                  "load-order-dependent position")
    if result.livepatches:
        extra += f", {plural(len(result.livepatches), 'livepatch module')} left out"
    if result.skipped:
        extra += f", {plural(len(result.skipped), 'object')} skipped"
    err.print(f"{markup(str(output))}: {plural(result.objects, 'object')}, "
              f"{plural(result.symbols, 'symbol')}, {plural(result.repeated, 'ambiguous name')} "
              f"(repeated within an object){extra}, {result.seconds:.2f} s")


@app.command()
def query(
    names: Annotated[list[str], typer.Argument(
        metavar="NAME...", show_default=False,
        help="Symbol names (after --, a name may start with -).")],
    symdb: Annotated[str, typer.Option(
        "--symdb", "-d", metavar="FILE", help="The symbol database.")] = "symbols.klp",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every definition of each NAME: object, position, address, type, size, file,
    export. Exits with 1 when a name is not found."""
    from klp.symdb import query as q
    from klp.symdb.format import SymbolDB

    db = SymbolDB(symdb)
    found = q.query(db, names)
    if as_json:
        q.print_json(symdb, db, found)
    else:
        q.print_table(symdb, db, found)
    if any(not recs for recs in found.values()):
        sys.stdout.flush()
        raise typer.Exit(1)
