"""The ``klp`` command line: argparse commands that each call one stage.

argparse is in the standard library and costs a few milliseconds to import; a
build system runs ``klp convert`` once per livepatch module and people run
``klp symdb query`` by hand, so start-up is most of what they wait for. Each
stage's module adds its own command (``add_parser``) and imports what the
command needs only when it runs. docs/reference.md has each command's options
with exactly the help texts below (tests/test_help.py). Every
:class:`~klp.errors.KlpError` becomes one line on stderr and its exit code.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import importlib
import io
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from klp import __version__
from klp.errors import ExitCode, KlpError

#: A command's implementation: the parsed arguments in, an exit code (None: 0) out.
Run = Callable[[argparse.Namespace], int | None]


def include_dir() -> str:
    """The folder with klp-reloc.h (KLP_MODULE_RELOC / KLP_SYMPOS)."""
    return os.path.join(os.path.dirname(os.path.realpath(__file__)), "include")


def kbuild_mk() -> str:
    """klp.mk, the kernel-build integration (docs/integration.md)."""
    return os.path.join(os.path.dirname(os.path.realpath(__file__)), "kbuild", "klp.mk")


class _PrintPath(argparse.Action):
    """An option that prints a path klp ships and exits (``--include-dir``)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(self.const())
        parser.exit()


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout at argparse's width (``$COLUMNS``, else the terminal's,
    else 80; less 2), found without importing shutil: argparse makes a formatter for
    every option it declares, and shutil brings bz2 and lzma, 2 ms of each run."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


def _columns() -> int:
    """The width shutil.get_terminal_size() gives: ``$COLUMNS``, else the width of the
    terminal on the standard output klp started with, else 80."""
    from klp.render import columns_asked

    columns = columns_asked()
    if columns is not None:
        return columns
    stdout = sys.__stdout__
    if stdout is None:  # started without one (``>&-``)
        return 80
    try:
        return os.get_terminal_size(stdout.fileno()).columns or 80
    except (ValueError, OSError):  # not a terminal, or a closed stream
        return 80


def command(commands: Any, name: str, run: Run | None, summary: str) -> argparse.ArgumentParser:
    """A subcommand of ``commands``: its parser, with ``run`` to call (None: a group
    of commands, whose help shows when none is given)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=summary, allow_abbrev=False,
        formatter_class=_HelpFormatter)
    parser.set_defaults(run=run, parser=parser)
    return parser


def subcommands(parser: argparse.ArgumentParser) -> Any:
    return parser.add_subparsers(title="commands", metavar="COMMAND")


#: The commands, in the order help lists them: the module that declares each one's
#: options, and the function that does (a run imports only the one it names).
_COMMANDS = {"convert": ("klp.convert.cli", "add_parser"),
             "verify": ("klp.verify.cli", "add_parser"),
             "symdb": ("klp.symdb.cli", "add_parser"),
             "elf": (__name__, "_add_elf")}


def _command_adder(name: str) -> Callable[[Any], None]:
    module, function = _COMMANDS[name]
    adder: Callable[[Any], None] = getattr(importlib.import_module(module), function)
    return adder


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given the arguments of a run, only the command they
    name (declaring every command's options costs more than a conversion's work)."""
    parser = argparse.ArgumentParser(
        prog="klp", allow_abbrev=False, formatter_class=_HelpFormatter,
        description="Build Linux kernel livepatch modules: a kallsyms-true symbol database, "
                    "a relocation converter and a checker.")
    parser.set_defaults(run=None, parser=parser)
    parser.add_argument("--version", action="version", version=f"klp {__version__}",
                        help="print the version")
    parser.add_argument("--include-dir", action=_PrintPath, const=include_dir,
                        help="print the folder of klp-reloc.h, for `ccflags-y += -I<folder>`")
    parser.add_argument("--kbuild-mk", action=_PrintPath, const=kbuild_mk,
                        help="print the path of klp.mk, the kernel-build integration "
                             "(docs/integration.md)")
    commands = subcommands(parser)
    # the top-level options take no value, so the first word that is not one names
    # the command; anything else (a typo, --help) gets the whole parser
    named = next((a for a in argv or () if not a.startswith("-")), None)
    for name in _COMMANDS:
        if named not in _COMMANDS or name == named:
            _command_adder(name)(commands)
    return parser


def _add_elf(commands: Any) -> None:
    group = subcommands(command(commands, "elf", None, "Inspect an ELF file as klp sees it."))
    views = (("sections", "List the sections of FILE, as readelf -S names them."),
             ("symbols", "List the symbols of FILE's .symtab (SHN_LIVEPATCH shows as "
                         "LIVEPATCH)."),
             ("relocs", "List the relocations of every RELA section of FILE."))
    for view, summary in views:
        parser = command(group, view, _show, summary)
        parser.add_argument("file", metavar="FILE",
                            help="an ELF64 object, module or vmlinux (a module also as .ko.xz, "
                                 ".ko.gz or .ko.zst)")
        parser.add_argument("--json", dest="as_json", action="store_true",
                            help="print JSON instead of a table")
        parser.set_defaults(view=view)


def _show(args: argparse.Namespace) -> None:
    """One ``klp elf`` view of FILE (:mod:`klp.elfview`): streamed JSON, or a table."""
    from klp import elfview, render
    from klp.inputs import open_object

    elf = open_object(args.file)
    listing = elfview.Listing(elf, args.view)
    if args.as_json:
        listing.check()
        render.write_json(sys.stdout, {"file": args.file, "machine": elf.arch.name},
                          args.view, listing.blocks())
    else:
        render.print_listing(f"{args.file} ({elf.arch.name}): {args.view}",
                             elfview.COLUMNS[args.view], listing.blocks,
                             hex_columns=elfview.HEX_COLUMNS)


def _prepare_streams() -> None:
    """A stream the program was started without (``>&-``) discards what is written to
    it, as print() does; a non-UTF-8 terminal (or a strict one) shows what it cannot
    encode as escapes."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the program
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> None:
    _prepare_streams()
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _unknown_arguments(args.parser, unknown)
    if args.run is None:  # `klp`, `klp symdb`, `klp elf` alone: what there is to run
        args.parser.print_help(sys.stderr)
        sys.exit(2)
    try:
        sys.exit(args.run(args) or 0)
    except KlpError as e:
        from klp.render import shown

        sys.stderr.write(f"klp: error: {shown(str(e))}\n")
        sys.exit(int(e.exit_code))
    except BrokenPipeError:
        _reader_left()
        sys.exit(0)
    except KeyboardInterrupt:
        # Ctrl-C: every file klp writes is renamed into place whole, or not at all
        sys.stderr.write("klp: interrupted\n")
        sys.exit(int(ExitCode.INTERRUPTED))
    except OSError as e:
        # writing standard output failed (a file klp opened names itself, and its
        # reader reports it; anything else is a bug, with its traceback)
        if e.filename is not None or e.errno not in _WRITE_ERRORS:
            raise
        _output_failed(e)


def _unknown_arguments(parser: argparse.ArgumentParser, unknown: list[str]) -> NoReturn:
    """Words the command does not take, said with that command's usage (argparse would
    show the top level's) and the option each unknown one was likely meant to be."""
    import difflib

    options = [o for o in parser._option_string_actions if o.startswith("--")]
    hints: dict[str, str] = {}
    for word in unknown:
        option = word.partition("=")[0]
        if option.startswith("--"):
            hints.update((option, c) for c in difflib.get_close_matches(option, options, n=1))
    said = [f"did you mean {c}?" if len(hints) == 1 else f"{o}: did you mean {c}?"
            for o, c in hints.items()]
    parser.error("; ".join([f"unrecognized arguments: {' '.join(unknown)}", *said]))


#: What writing to a file, pipe or terminal fails with when the fault is theirs.
_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF,
                           errno.EROFS, errno.ENXIO})


def _reader_left() -> None:
    """The reader of standard output left (``| head``): what is still buffered goes
    nowhere, instead of making Python report the broken pipe again when it flushes."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _output_failed(error: OSError) -> NoReturn:
    """Standard output could not take what klp wrote (a full disk, an I/O error)."""
    from klp.render import shown

    reason = shown(error.strerror or str(error))
    sys.stderr.write(f"klp: error: cannot write the output: {reason}\n")
    sys.exit(int(ExitCode.OUTPUT))


def program() -> None:
    """The ``klp`` program (and ``python -m klp``): :func:`main`, then out without
    tearing the interpreter down, which is about 6 ms of a ``klp convert`` (freeing
    every object one by one). Every file klp writes is closed and renamed by then, and
    the exit handlers (atexit: coverage, worker pools) still run first. Under a tracer
    or profiler, or with another thread alive, klp exits as usual. Standard output is
    flushed first; if it cannot be written, that is an error (exit 6) as inside
    :func:`main`."""
    try:
        main()
    except SystemExit as done:
        if done.code is not None and not isinstance(done.code, int):
            raise
        _flush_stdout()
        run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
        if run_exit_handlers is None or _watched() or _other_threads():
            raise
        run_exit_handlers()
        _flush_stdout()
        sys.stderr.flush()
        os._exit(done.code or 0)


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _reader_left()
    except OSError as e:
        _output_failed(e)


def _other_threads() -> bool:
    threading = sys.modules.get("threading")  # none started if it was never imported
    return threading is not None and threading.active_count() > 1


def _watched() -> bool:
    """A tracer, profiler or monitoring tool (coverage, cProfile) that reports when
    the interpreter ends, or after klp returns."""
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)  # Python 3.12+
    return monitoring is not None and any(
        monitoring.get_tool(tool) is not None for tool in range(6))
