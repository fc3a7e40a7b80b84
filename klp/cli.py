"""The ``klp`` command line: thin typer commands that call one stage each.

Heavy imports happen inside the commands, so ``klp --help`` stays fast. Every
:class:`~klp.errors.KlpError` becomes one line on stderr and its exit code.
"""

from __future__ import annotations

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
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
    print_include_dir: Annotated[
        bool,
        typer.Option(
            "--include-dir",
            callback=_print_include_dir,
            is_eager=True,
            help="print the folder of klp-reloc.h, for `ccflags-y += -I<folder>`",
        ),
    ] = False,
    print_kbuild_mk: Annotated[
        bool,
        typer.Option(
            "--kbuild-mk",
            callback=_print_kbuild_mk,
            is_eager=True,
            help="print the path of klp.mk, the kernel-build integration (docs/integration.md)",
        ),
    ] = False,
) -> None:
    """klp: a kallsyms-true symbol database and a livepatch relocation converter."""


def _emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=1)
    sys.stdout.write("\n")


ElfFileArgument = Annotated[Path, typer.Argument(
    metavar="FILE", help="An ELF64 object, module or vmlinux.", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
HEX_COLUMNS = frozenset({"address", "offset", "value"})


def _show(view: str, file: Path, as_json: bool, columns: tuple[str, ...]) -> None:
    """One ``klp elf`` view of FILE: the rows of :mod:`klp.elfview`, as JSON or a table."""
    from klp import elfview
    from klp.elfcodec.elffile import ElfFile

    elf = ElfFile.open(file)
    rows = {"sections": elfview.section_rows, "symbols": elfview.symbol_rows,
            "relocs": elfview.reloc_rows}[view](elf)
    if as_json:
        _emit_json({"file": str(file), "machine": elf.arch.name, view: rows})
        return
    from klp.render import print_table

    print_table(f"{file} ({elf.arch.name}): {view}", rows, hex_columns=HEX_COLUMNS,
                columns=columns)


@elf_app.command("sections")
def elf_sections(file: ElfFileArgument, as_json: JsonOption = False) -> None:
    """List the sections of FILE, as readelf -S names them."""
    _show("sections", file, as_json, ("index", "name", "type", "address", "offset", "size",
                                      "entsize", "flags", "link", "info", "align"))


@elf_app.command("symbols")
def elf_symbols(file: ElfFileArgument, as_json: JsonOption = False) -> None:
    """List the symbols of FILE's .symtab (SHN_LIVEPATCH shows as LIVEPATCH)."""
    _show("symbols", file, as_json, ("index", "value", "size", "type", "bind", "visibility",
                                     "section", "name"))


@elf_app.command("relocs")
def elf_relocs(file: ElfFileArgument, as_json: JsonOption = False) -> None:
    """List the relocations of every RELA section of FILE."""
    _show("relocs", file, as_json, ("section", "offset", "type", "symbol", "addend"))


def _mount_stages() -> None:
    """Mount the two pipeline stages (imported here: ``klp elf`` needs neither)."""
    from klp.convert.cli import convert
    from klp.symdb.cli import app as symdb_app
    from klp.verify.cli import verify

    app.add_typer(symdb_app, name="symdb", help="Build and query the symbol database.")
    app.command("convert")(convert)
    app.command("verify")(verify)


def _never_fail_to_encode() -> None:
    """A non-UTF-8 terminal (or a strict one) shows what it cannot encode as escapes."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def main() -> None:
    _never_fail_to_encode()
    _mount_stages()
    try:
        # standalone: typer reports usage errors itself (exit 2) and calls sys.exit
        app(args=sys.argv[1:], prog_name="klp")
    except KlpError as e:
        from klp.render import shown

        sys.stderr.write(f"klp: error: {shown(str(e))}\n")
        sys.exit(int(e.exit_code))
    except BrokenPipeError:
        sys.exit(0)
