"""Inputs ``klp symdb build`` refuses whole, with --keep-going too: they are readable,
but no database of one kernel can hold them."""

from __future__ import annotations

import pathlib
import shutil

import pytest

from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.writer import write_atomic
from klp.symdb.format import SymbolDB
from tests.support.cli import klp
from tests.support.paths import TESTDATA


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


@pytest.mark.parametrize(("kernel", "other"), [("x86_64", "arm64"), ("s390x", "ppc64le"),
                                                ("arm64", "s390x")])
def test_objects_of_another_architecture(kernel: str, other: str,
                                         tmp_path: pathlib.Path) -> None:
    """It built with exit 0 (an x86_64 vmlinux with 992 arm64 modules): vmlinux decides."""
    out = tmp_path / "s.klp"
    for extra in ((), ("--keep-going",)):
        proc = klp("symdb", "build", "--vmlinux", str(TESTDATA / kernel / "vmlinux"),
                   "--modules", str(TESTDATA / other / "modules"), "-o", str(out), *extra,
                   check=3)
        assert f"fixture_mod (fixture-mod.ko) is {other}, vmlinux is {kernel}" in proc.stderr
        assert not out.exists()


def test_without_vmlinux_the_modules_decide(tmp_path: pathlib.Path) -> None:
    """System.map says nothing of the architecture: most modules are right."""
    mods = tmp_path / "mods"
    mods.mkdir()
    for name, arch in (("a", "x86_64"), ("b", "arm64"), ("c", "x86_64")):
        shutil.copy(TESTDATA / arch / "modules" / "fixture-mod.ko", mods / f"{name}.ko")
    proc = klp("symdb", "build", "--system-map", str(TESTDATA / "x86_64" / "System.map"),
               "--modules", str(mods), "-o", str(tmp_path / "s.klp"), "--keep-going", check=3)
    assert "fixture_mod (b.ko) is arm64, the other objects are x86_64" in proc.stderr
    proc = klp("symdb", "build", str(TESTDATA / "arm64" / "vmlinux"),
               str(TESTDATA / "arm64" / "modules" / "fixture-mod.ko"),
               str(TESTDATA / "s390x" / "modules" / "fixture-mod.ko"),
               "-o", str(tmp_path / "p.klp"), check=3)
    assert "is s390x, vmlinux is arm64" in proc.stderr
