"""The ``klp`` command line: thin typer commands that call one stage each.

Heavy imports happen inside the commands, so ``klp --help`` stays fast. Every
:class:`~klp.errors.KlpError` becomes one line on stderr and its exit code.
"""

from __future__ import annotations

import enum
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from klp.errors import KlpError

app = typer.Typer(
    name="klp",
    help="Build Linux kernel livepatch modules: symbol database and relocation converter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
elf_app = typer.Typer(help="Inspect an ELF file as klp sees it.", no_args_is_help=True)
app.add_typer(elf_app, name="elf")


def include_dir() -> Path:
    """The folder with klp-reloc.h (KLP_MODULE_RELOC / KLP_SYMPOS)."""
    return Path(__file__).resolve().parent / "include"


def _version(value: bool) -> None:
    if value:
        from klp import __version__

        typer.echo(f"klp {__version__}")
        raise typer.Exit()


def _print_include_dir(value: bool) -> None:
    if value:
        typer.echo(str(include_dir()))
        raise typer.Exit()


def _print_kbuild_mk(value: bool) -> None:
    if value:
        typer.echo(str(Path(__file__).resolve().parent / "kbuild" / "klp.mk"))
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    print_include_dir: Annotated[
        bool,
        typer.Option(
            "--include-dir",
            callback=_print_include_dir,
            is_eager=True,
            help="Print the folder of klp-reloc.h, for ccflags-y += -I<folder>.",
        ),
    ] = False,
    print_kbuild_mk: Annotated[
        bool,
        typer.Option(
            "--kbuild-mk",
            callback=_print_kbuild_mk,
            is_eager=True,
            help="Print the path of klp.mk, the kernel-build integration (docs/integration.md).",
        ),
    ] = False,
) -> None:
    """klp: a kallsyms-true symbol database and a livepatch relocation converter."""


class ElfView(enum.StrEnum):
    sections = "sections"
    symbols = "symbols"
    relocs = "relocs"


def _emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=1)
    sys.stdout.write("\n")


@elf_app.command("show")
def elf_show(
    view: Annotated[ElfView, typer.Argument(help="What to list.")],
    file: Annotated[Path, typer.Argument(help="An ELF64 object, module or vmlinux.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the sections, symbols or relocations of FILE."""
    from klp import inspect
    from klp.elfcodec.elffile import ElfFile

    elf = ElfFile.open(file)
    rows = {
        ElfView.sections: inspect.section_rows,
        ElfView.symbols: inspect.symbol_rows,
        ElfView.relocs: inspect.reloc_rows,
    }[view](elf)
    if as_json:
        _emit_json({"file": str(file), "machine": elf.arch.name, view.value: rows})
        return
    from klp.render import print_table

    print_table(
        f"{file} ({elf.arch.name}): {view.value}",
        rows,
        hex_columns=HEX_COLUMNS,
        columns=TABLE_COLUMNS[view],
    )


HEX_COLUMNS = frozenset({"address", "offset", "value"})
TABLE_COLUMNS = {
    ElfView.sections: ("index", "name", "type", "address", "offset", "size", "entsize", "flags",
                       "link", "info", "align"),
    ElfView.symbols: ("index", "value", "size", "type", "bind", "visibility", "section", "name"),
    ElfView.relocs: ("section", "offset", "type", "symbol", "addend"),
}


def _mount_stages() -> None:
    """Mount the two pipeline stages (imported here: ``klp elf`` needs neither)."""
    from klp.convert.cli import convert
    from klp.symdb.cli import app as symdb_app

    app.add_typer(symdb_app, name="symdb", help="Build and query the symbol database.")
    app.command("convert")(convert)


def _never_fail_to_encode() -> None:
    """A non-UTF-8 terminal (or a strict one) shows what it cannot encode as escapes."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def main() -> None:
    _never_fail_to_encode()
    _mount_stages()
    argv = sys.argv[1:]
    # `klp elf sections FILE` reads better than `klp elf show sections FILE`.
    if len(argv) >= 2 and argv[0] == "elf" and argv[1] in ElfView.__members__:
        argv = ["elf", "show", *argv[1:]]
    try:
        # standalone: typer reports usage errors itself (exit 2) and calls sys.exit
        app(args=argv, prog_name="klp")
    except KlpError as e:
        from klp.render import shown

        sys.stderr.write(f"klp: error: {shown(str(e))}\n")
        sys.exit(int(e.exit_code))
    except BrokenPipeError:
        sys.exit(0)
