"""A name the database lacks but the kernel has under a compiler's name (a function's
static variable ``count.2``, an LTO rename, a GCC clone): ``klp convert`` lists each
such symbol and says whether naming it is right, with the line that names it; that
line then converts (klp/symdb/variants.py).

The bundled livepatch modules are edited as their source would be: the use renamed
as C writes it (``count``), or as the suggested asm label writes it.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import pytest

from klp.elfcodec.elffile import ElfFile
from tests.support.cli import klp
from tests.support.convert import edited, rename_symbols
from tests.support.paths import ARCHES, TESTDATA
from tests.support.readelf import readelf

T = TESTDATA / "x86_64"
#: Function statics as GCC and clang name them, an LTO rename, and 12 copies of one
#: more name, added to the bundled kernel's System.map.
EXTRA = {"count.1": 0x600, "count.2": 0x610, "read_stats.count": 0x618,
         "count.llvm.123": 0x620, **{f"hits.{i}": 0x700 + i * 8 for i in range(12)}}
COUNT_LINES = [
    "count.llvm.123 in vmlinux: count, renamed by link-time optimisation: "
    "KLP_RELOC_SYMBOL(vmlinux, vmlinux, count.llvm.123)",
    "count.1 in vmlinux: a static variable count inside a function: "
    "KLP_RELOC_SYMBOL(vmlinux, vmlinux, count.1)",
    "count.2 in vmlinux: a static variable count inside a function: "
    "KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, count.2, 1)",
    "count.2 in vmlinux: a static variable count inside a function: "
    "KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, count.2, 2)",
    "read_stats.count in vmlinux: the static variable count of read_stats(): "
    "KLP_RELOC_SYMBOL(vmlinux, vmlinux, read_stats.count)",
]


@pytest.fixture(scope="module")
def statics_db(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The bundled x86_64 kernel's System.map with :data:`EXTRA` (count.2 twice), and its
    modules."""
    out = tmp_path_factory.mktemp("variants")
    lines = (T / "System.map").read_text().splitlines()
    lines += [f"ffffffff81{offset:06x} d {name}" for name, offset in EXTRA.items()]
    lines.append(f"ffffffff81{EXTRA['count.2'] + 4:06x} d count.2")
    smap = out / "System.map"
    smap.write_text("\n".join(sorted(lines)) + "\n")
    db = out / "symbols.klp"
    klp("symdb", "build", "--system-map", str(smap), "--modules", str(T / "modules"),
        "--symvers", str(T / "Module.symvers"), "-o", str(db))
    return db


def convert(db: pathlib.Path, module: pathlib.Path, out: pathlib.Path, arch: str = "x86_64",
            check: int = 4) -> dict[str, Any]:
    proc = klp("convert", str(module), "-o", str(out), "--symdb", str(db), "--symvers",
               str(TESTDATA / arch / "Module.symvers"), "--json", check=check)
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def problem(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [p for p in report["problems"] if p["symbol"] == name]
    assert len(found) == 1, report["problems"]
    return found[0]


@pytest.mark.parametrize("arch", ARCHES)
def test_a_clone_is_no_substitute(dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path,
                                  arch: str) -> None:
    """Every call of fixture_calc went to its constprop clone, so vmlinux has no
    fixture_calc: the clone is listed, with why it cannot be called, and no line."""
    module = edited(tmp_path, arch, rename_symbols({"fixture_calc.constprop.0": "fixture_calc"}))
    out = tmp_path / "out.ko"
    report = convert(dbs[arch], module, out, arch)
    found = problem(report, "fixture_calc")
    assert found["kind"] == "unknown"
    assert "the compiler left only copies of it" in found["message"]
    [line] = found["suggestions"]
    assert line.startswith("fixture_calc.constprop.0 in vmlinux (util.c): a GCC clone of "
                           "fixture_calc that takes other arguments"), line
    assert "KLP_RELOC_SYMBOL" not in line
    assert not out.exists()


def test_renamed_statics_are_listed_with_their_lines(statics_db: pathlib.Path,
                                                     tmp_path: pathlib.Path) -> None:
    module = edited(tmp_path, "x86_64", rename_symbols({"fixture_max_threads": "count"}))
    found = problem(convert(statics_db, module, tmp_path / "out.ko"), "count")
    assert "the compiler named it otherwise" in found["message"]
    assert found["suggestions"] == COUNT_LINES


def test_many_variants_are_cut_short(statics_db: pathlib.Path, tmp_path: pathlib.Path) -> None:
    module = edited(tmp_path, "x86_64", rename_symbols({"fixture_max_threads": "hits"}))
    lines = problem(convert(statics_db, module, tmp_path / "out.ko"), "hits")["suggestions"]
    assert len(lines) == 9
    assert lines[-1] == ("... and 4 more (klp symdb query hits.0 hits.1 hits.10 hits.11 "
                         "hits.2 hits.3 hits.4 hits.5 hits.6 hits.7 hits.8 hits.9)")


@pytest.mark.parametrize(("label", "klp_symbol"), [
    ("count.2.2", ".klp.sym.vmlinux.count.2,2"),
    ("read_stats.count.0", ".klp.sym.vmlinux.read_stats.count,0"),
    ("count.llvm.123.0", ".klp.sym.vmlinux.count.llvm.123,0"),
])
def test_the_suggested_line_converts(statics_db: pathlib.Path, tmp_path: pathlib.Path,
                                     label: str, klp_symbol: str) -> None:
    """The asm label a suggested KLP_RELOC_SYMBOL(_POS) line writes selects that copy."""
    rename = rename_symbols({"fixture_max_threads": f".klp.sym.rela.vmlinux.vmlinux.{label}"})
    module = edited(tmp_path, "x86_64", rename)
    out = tmp_path / "out.ko"
    convert(statics_db, module, out, check=0)
    names = {sym[7] for sym in readelf(str(out)).symbols}
    assert klp_symbol in names
    assert not [n for n in names if n.startswith(".klp.sym.rela.")]


def test_rendered_at_80_columns(statics_db: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """The lines a person reads: each suggestion whole on a line of its own."""
    module = edited(tmp_path, "x86_64", rename_symbols({"fixture_max_threads": "count"}))
    proc = klp("convert", str(module), "-o", str(tmp_path / "out.ko"), "--symdb",
               str(statics_db), "--symvers", str(T / "Module.symvers"), check=4,
               env={"COLUMNS": "80"})
    text = " ".join(proc.stderr.split())
    for line in COUNT_LINES:
        assert line in text, proc.stderr
    assert "Traceback" not in proc.stderr


def test_query_names_them(statics_db: pathlib.Path) -> None:
    proc = klp("symdb", "query", "count", "--symdb", str(statics_db), check=None,
               env={"COLUMNS": "200"})
    assert (f"count: not in {os.fspath(statics_db)}; the compiler's names for it: renamed by "
            "LTO: count.llvm.123; functions' static variables: count.1, count.2, "
            "read_stats.count") in proc.stderr, proc.stderr


def test_verify_names_them(statics_db: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """A finished module that asks for vmlinux's count: klp verify says which symbols
    the compiler made of it, and the klp symbol that names each."""
    rename = rename_symbols({"fixture_max_threads": ".klp.sym.rela.vmlinux.vmlinux.count.2.2"})
    converted = tmp_path / "converted.ko"
    convert(statics_db, edited(tmp_path, "x86_64", rename), converted, check=0)
    elf = ElfFile.open(converted)
    rename_symbols({".klp.sym.vmlinux.count.2,2": ".klp.sym.vmlinux.count,0"})(elf)
    elf.write(tmp_path / "plain-name.ko")
    proc = klp("verify", str(tmp_path / "plain-name.ko"), "--symdb", str(statics_db), "--json",
               check=None)
    found = problem(json.loads(proc.stdout), ".klp.sym.vmlinux.count,0")
    assert found["kind"] == "binding"
    assert found["suggestions"] == [
        "count.llvm.123 (vmlinux): count, renamed by link-time optimisation: "
        ".klp.sym.vmlinux.count.llvm.123,0 names it",
        "count.1 (vmlinux): a static variable count inside a function: "
        ".klp.sym.vmlinux.count.1,0 names it",
        "count.2 (vmlinux): a static variable count inside a function: "
        ".klp.sym.vmlinux.count.2,1 names it",
        "count.2 (vmlinux): a static variable count inside a function: "
        ".klp.sym.vmlinux.count.2,2 names it",
        "read_stats.count (vmlinux): the static variable count of read_stats(): "
        ".klp.sym.vmlinux.read_stats.count,0 names it",
    ]
