"""``klp symdb build`` and ``klp symdb query`` (mounted by klp/cli.py as ``klp symdb``).

Heavy modules are imported inside the commands, so ``klp --help`` stays fast.
``query`` parses its own arguments: typer coerces every non-flag parameter through
pydantic, whose import alone would double the command's start-up time.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Build and query the symbol database.", no_args_is_help=True)

QUERY_USAGE = "NAME... [--symdb FILE] [--json]"


@app.command()
def build(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Explicit objects (vmlinux, .ko, .o).")
    ] = None,
    kernel_tree: Annotated[Path | None, typer.Option(
        help="A kernel build tree: its vmlinux, the modules in modules.order, "
             "Module.symvers.")] = None,
    vmlinux: Annotated[Path | None, typer.Option(
        help="vmlinux with its .symtab (e.g. Debian's -dbg vmlinux).")] = None,
    system_map: Annotated[Path | None, typer.Option(
        help="System.map: vmlinux positions in its order (with --vmlinux: cross-checked).")
    ] = None,
    modules: Annotated[Path | None, typer.Option(
        help="A folder of modules (.ko, .ko.xz, .ko.zst, .ko.gz), e.g. /lib/modules/<release>.")
    ] = None,
    symvers: Annotated[Path | None, typer.Option(help="Module.symvers (exports).")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write.")] = Path(
        "symbols.klp"),
    jobs: Annotated[int, typer.Option("-j", "--jobs", help="Parallel scanners (0: every core).")
                    ] = 0,
    keep_going: Annotated[bool, typer.Option(
        "--keep-going",
        help="Skip unreadable or malformed modules (and say so) instead of failing.")] = False,
    fmt: Annotated[str, typer.Option(
        "--format", help="klp (default) or klp-convert-0.1 (the upstream proposal's format).")
    ] = "klp",
) -> None:
    """Scan a kernel into symbols.klp, with positions as the running kernel counts them."""
    from klp.elfcodec.writer import write_bytes_atomic
    from klp.errors import InputError
    from klp.render import markup, plural, stderr_console
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
    err = stderr_console()
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


def _query_args(ctx: typer.Context) -> tuple[list[str], str]:
    """NAME... and --symdb FILE from the raw arguments (errors exit with 2)."""
    args = list(ctx.args)
    names: list[str] = []
    symdb = "symbols.klp"
    it = iter(args)
    for arg in it:
        if arg == "--":
            names += list(it)
            break
        if arg in ("--symdb", "-d"):
            value = next(it, None)
            if value is None:
                raise typer.BadParameter(f"{arg} needs a FILE", ctx=ctx)
            symdb = value
        elif arg.startswith("--symdb="):
            symdb = arg.split("=", 1)[1]
        elif arg.startswith("-") and len(arg) > 1:
            raise typer.BadParameter(f"no such option: {arg}", ctx=ctx)
        else:
            names.append(arg)
    if not names:
        raise typer.BadParameter(f"give at least one NAME ({QUERY_USAGE})", ctx=ctx)
    return names, symdb


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    options_metavar=QUERY_USAGE,
)
def query(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every definition of each NAME: object, position, address, type, size, file, export.

    --symdb FILE (-d): the database (default ./symbols.klp). Exits with 1 when a
    name is not found.
    """
    from klp.symdb import query as q
    from klp.symdb.format import SymbolDB

    names, symdb = _query_args(ctx)
    db = SymbolDB(symdb)
    found = q.query(db, names)
    if as_json:
        q.print_json(symdb, db, found)
    else:
        q.print_table(symdb, db, found)
    if any(not recs for recs in found.values()):
        sys.stdout.flush()
        raise typer.Exit(1)
