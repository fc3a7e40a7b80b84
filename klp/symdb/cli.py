"""``klp symdb build`` and ``klp symdb query`` (added by klp/cli.py as ``klp symdb``).

Heavy modules are imported inside the commands, so ``klp --help`` stays fast.
docs/reference.md quotes every option's help (tests/test_help.py checks it).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    from klp.cli import command, subcommands
    from klp.symdb.model import Dialect

    group = subcommands(command(commands, "symdb", None, "Build and query the symbol database."))
    build = command(group, "build", run_build, "Scan a kernel into symbols.klp, with positions "
                    "as the running kernel counts them.")
    build.add_argument("paths", metavar="PATHS", nargs="*",
                       help="objects to scan: a linked image (ET_EXEC, ET_DYN) is the vmlinux, "
                            "anything else a module (.ko, .o)")
    build.add_argument("--kernel-tree", metavar="DIR",
                       help="a kernel build tree: its vmlinux, the modules of modules.order "
                            "(the .ko, else the .o), its Module.symvers and modules.builtin")
    build.add_argument("--vmlinux", metavar="FILE",
                       help="vmlinux with its .symtab (e.g. Debian's -dbg vmlinux)")
    build.add_argument("--system-map", metavar="FILE",
                       help="System.map: vmlinux positions in its order (with --vmlinux: "
                            "checked against it)")
    build.add_argument("--modules", metavar="DIR",
                       help="every .ko, .ko.xz, .ko.zst, .ko.gz below DIR, e.g. "
                            "/lib/modules/6.1.0-57-amd64 (symlinked folders are not followed), "
                            "and its modules.builtin (the modules built into vmlinux)")
    build.add_argument("--debug-modules", metavar="DIR",
                       help="the modules' debug copies, laid out as under --modules (e.g. "
                            "/usr/lib/debug/lib/modules/6.1.0-57-amd64 of Debian's -dbg "
                            "package): source files for modules installed without them")
    build.add_argument("--symvers", metavar="FILE",
                       help="Module.symvers (exports)")
    build.add_argument("-o", "--output", metavar="FILE", default="symbols.klp",
                       help="where to write (default: symbols.klp)")
    build.add_argument("-j", "--jobs", metavar="N", type=int, default=0,
                       help="parallel scanners (default 0: every core)")
    build.add_argument("--keep-going", action="store_true",
                       help="skip unreadable or malformed modules (and say so) instead of "
                            "failing")
    build.add_argument("--format", dest="fmt", metavar="FORMAT", default="klp",
                       type=Dialect, choices=list(Dialect),
                       help="klp (default), or klp-convert-0.1 (the upstream proposal's "
                            "format)")
    query = command(group, "query", run_query, "Every definition of each NAME: object, "
                    "position, address, type, size, file, export. Exits with 1 when a name is "
                    "not found.")
    query.add_argument("names", metavar="NAME", nargs="+",
                       help="symbol names (after --, a name may start with -)")
    query.add_argument("-d", "--symdb", metavar="FILE", default="symbols.klp",
                       help="the symbol database (default: symbols.klp), or a module klp "
                            "convert wrote: the record of the build it was converted for")
    query.add_argument("--json", dest="as_json", action="store_true", help="print JSON")


def run_build(args: argparse.Namespace) -> None:
    """Scan a kernel into symbols.klp, with positions as the running kernel counts them."""
    from klp.elfcodec.writer import write_bytes_atomic
    from klp.errors import UsageError
    from klp.render import console, markup, plural
    from klp.symdb.build import build as run
    from klp.symdb.build import default_jobs
    from klp.symdb.sources import find_sources

    if args.jobs < 0:
        raise UsageError("--jobs must be 0 (every core) or more")

    src = find_sources(kernel_tree=args.kernel_tree, vmlinux=args.vmlinux,
                       system_map=args.system_map, modules_dir=args.modules,
                       symvers=args.symvers, paths=args.paths,
                       debug_modules=args.debug_modules)
    err = console(stderr=True, soft_wrap=True)
    result = run(src, jobs=args.jobs or default_jobs(), keep_going=args.keep_going,
                 fmt=args.fmt, progress=err.is_terminal)
    output = args.output
    write_bytes_atomic(output, result.data)
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
    err.print(f"{markup(output)}: {plural(result.objects, 'object')}, "
              f"{plural(result.symbols, 'symbol')}, {plural(result.repeated, 'ambiguous name')} "
              f"(repeated within an object){extra}, {result.seconds:.2f} s")


def _is_module(path: str) -> bool:
    """Whether ``-d`` names a module (its record is queried) rather than a database."""
    from klp.inputs import COMPRESSED

    if path.endswith((".ko", *COMPRESSED)):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False  # the database reader says why it cannot be read


def run_query(args: argparse.Namespace) -> int:
    import sys

    from klp.symdb import query as q
    from klp.symdb.format import SymbolDB

    if _is_module(args.symdb):
        from klp.livepatch.converted import module_record

        db = module_record(args.symdb)
    else:
        db = SymbolDB(args.symdb)
    found = q.query(db, args.names)
    if args.as_json:
        q.print_json(args.symdb, db, found)
    else:
        q.print_table(args.symdb, db, found)
    sys.stdout.flush()
    return 1 if any(not recs for recs in found.values()) else 0
