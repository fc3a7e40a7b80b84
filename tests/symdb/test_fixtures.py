"""symdb on the bundled sample kernels of the four architectures."""

from __future__ import annotations

import json
import pathlib
from collections import defaultdict

import pytest

from klp.errors import InputError
from klp.symdb.format import SymbolDB
from klp.symvers import module_name
from tests.cli import klp
from tests.conftest import ARCHES, TESTDATA


def build(arch: str, out: pathlib.Path, *extra: str) -> pathlib.Path:
    t = TESTDATA / arch
    db = out / f"{arch}.klp"
    klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "--modules", str(t / "modules"),
        "--symvers", str(t / "Module.symvers"), "-o", str(db), *extra)
    return db


@pytest.mark.parametrize("arch", ARCHES)
def test_vmlinux_positions_follow_system_map(arch: str, tmp_path: pathlib.Path) -> None:
    db = SymbolDB(str(build(arch, tmp_path)))
    order: dict[str, list[str]] = defaultdict(list)
    for line in (TESTDATA / arch / "System.map").read_text().splitlines():
        addr, _, name = line.split()[:3]
        order[name].append(addr)
    repeated = [n for n, addrs in order.items() if len(addrs) > 1]
    assert repeated, "the sample kernel must have duplicate names"
    found = db.definitions(repeated)
    for name in repeated:
        ours = [d for d in found[name] if d.obj == "vmlinux"]
        assert [d.pos for d in ours] == list(range(1, len(ours) + 1))
        assert [int(d.address, 16) for d in ours] == [int(a, 16) for a in order[name]], name


@pytest.mark.parametrize("arch", ARCHES)
def test_module_symbols_in_symtab_order(arch: str, tmp_path: pathlib.Path) -> None:
    db = SymbolDB(str(build(arch, tmp_path)))
    assert "fixture_mod" in db.objects()  # .modinfo name=, not the file name fixture-mod
    defs = db.definitions(["mod_value"])["mod_value"]
    assert [(d.obj, d.pos, d.count) for d in defs] == [("fixture_mod", 1, 2),
                                                       ("fixture_mod", 2, 2)]
    assert [d.file for d in defs] == ["fixture-main.c", "fixture-util.c"]


def test_livepatch_modules_are_left_out(tmp_path: pathlib.Path) -> None:
    t = TESTDATA / "x86_64"
    db = tmp_path / "s.klp"
    proc = klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), str(t / "livepatch-fixture.ko"),
               "-o", str(db))
    assert "1 livepatch modules left out" in proc.stderr
    assert SymbolDB(str(db)).objects() == ["vmlinux"]


def test_same_inputs_same_bytes(tmp_path: pathlib.Path) -> None:
    a = build("x86_64", tmp_path / "a" if (tmp_path / "a").mkdir() is None else tmp_path)
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    b = build("x86_64", b_dir, "--jobs", "2")
    assert a.read_bytes() == b.read_bytes()


def test_upstream_format(tmp_path: pathlib.Path) -> None:
    db = build("x86_64", tmp_path, "--format", "klp-convert-0.1")
    text = db.read_text()
    assert text.startswith("klp-convert-symbol-data.0.1\n*vmlinux\n")
    assert "\n__ksymtab_fixture_log\n" in text
    reader = SymbolDB(str(db))
    assert {d.obj for d in reader.definitions(["mod_value"])["mod_value"]} == {"fixture_mod"}


def test_reader_refuses_other_files(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "x.klp"
    bad.write_text("hello\n")
    with pytest.raises(InputError, match=r"not a symbols\.klp"):
        SymbolDB(str(bad))


def test_query_json(tmp_path: pathlib.Path) -> None:
    db = build("x86_64", tmp_path)
    proc = klp("symdb", "query", "fixture_state", "--symdb", str(db), "--json")
    rows = json.loads(proc.stdout)["fixture_state"]
    assert [r["pos"] for r in rows] == [1, 2]
    assert klp("symdb", "query", "no_such_symbol", "--symdb", str(db), check=1)


def test_module_name_normalisation() -> None:
    assert module_name("drivers/foo/fixture-mod.ko.xz") == "fixture_mod"
    assert module_name("kernel/a-b-c.ko") == "a_b_c"
