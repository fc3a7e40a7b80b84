"""Inputs ``klp symdb build`` refuses whole, with --keep-going too: they are readable,
but no database of one kernel can hold them."""

from __future__ import annotations

import pathlib

from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.writer import write_atomic
from klp.symdb.format import SymbolDB
from tests.cli import klp
from tests.conftest import TESTDATA


def module_with_symbol_named(name: str, folder: pathlib.Path) -> pathlib.Path:
    """The sample module with its (kept) ``mod_value`` symbols renamed."""
    elf = ElfFile.open(TESTDATA / "x86_64" / "modules" / "fixture-mod.ko")
    for i in range(1, len(elf.symtab)):
        if elf.symtab.name(i) == "mod_value":
            elf.rename_symbol(i, name)
    folder.mkdir()
    write_atomic(elf, str(folder / "odd.ko"))
    return folder


def test_upstream_format_refuses_a_name_it_cannot_hold(tmp_path: pathlib.Path) -> None:
    mods = module_with_symbol_named("two\nlines", tmp_path / "mods")
    out = tmp_path / "s.klp"
    for extra in ((), ("--keep-going",)):
        proc = klp("symdb", "build", "--modules", str(mods), "--format", "klp-convert-0.1",
                   "-o", str(out), *extra, check=3)
        assert "fixture_mod (odd.ko)" in proc.stderr and r"two\nlines" in proc.stderr
        assert "use --format klp" in proc.stderr and proc.stderr.count("\n") == 1
        assert not out.exists()
    klp("symdb", "build", "--modules", str(mods), "-o", str(out))
    found = SymbolDB(str(out)).lookup(["two\nlines"])["two\nlines"]
    assert [(r.obj, r.pos, r.count) for r in found] == [("fixture_mod", 1, 2),
                                                        ("fixture_mod", 2, 2)]
