"""symdb on the bundled sample kernels of the four architectures (testdata/).

Expectations come from testdata/expected.json and the fixtures' own System.map.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
from collections import defaultdict
from typing import Any

import pytest

from klp.symdb.format import SymbolDB
from klp.symdb.model import SymbolRecord
from klp.symdb.scan import read_system_map
from tests.support.cli import klp
from tests.support.compress import SUFFIXES, compress
from tests.support.paths import ARCHES, TESTDATA
from tests.support.symdb import build

EXPECTED: dict[str, Any] = json.loads((TESTDATA / "expected.json").read_text())


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SymbolDB]:
    out = tmp_path_factory.mktemp("symdb")
    return {arch: SymbolDB(str(build(arch, out))) for arch in ARCHES}


def by_obj(db: SymbolDB, name: str, obj: str) -> list[SymbolRecord]:
    return [r for r in db.lookup([name]).get(name, []) if r.obj == obj]


def system_map(arch: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    smap = read_system_map(str(TESTDATA / arch / "System.map"))
    for name, value in zip(smap.names, smap.values, strict=True):
        found[name.decode()].append(value)
    return found


# -- vmlinux ------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHES)
def test_vmlinux_holds_exactly_what_kallsyms_keeps(arch: str, dbs: dict[str, SymbolDB]) -> None:
    """The same (name, address) multiset as the fixture's System.map (kallsyms view)."""
    ours = sorted((r.value or 0, r.name) for r in dbs[arch] if r.obj == "vmlinux")
    theirs = sorted((v, n) for n, vs in system_map(arch).items() for v in vs)
    assert ours == theirs


@pytest.mark.parametrize("arch", ARCHES)
def test_vmlinux_positions_follow_addresses(arch: str, dbs: dict[str, SymbolDB]) -> None:
    db = dbs[arch]
    smap = system_map(arch)
    repeated = [n for n, addrs in smap.items() if len(addrs) > 1]
    assert set(EXPECTED["vmlinux"]["duplicates"]) <= set(repeated)
    found = db.lookup(repeated)
    for name in repeated:
        ours = [r for r in found[name] if r.obj == "vmlinux"]
        assert [r.pos for r in ours] == list(range(1, len(ours) + 1))
        assert {r.count for r in ours} == {len(ours)}
        assert [r.value for r in ours] == smap[name], name


@pytest.mark.parametrize("arch", ARCHES)
def test_vmlinux_duplicates_match_expected(arch: str, dbs: dict[str, SymbolDB]) -> None:
    """Positions by address, not by .symtab: fixture_state and fixture_cold_path differ."""
    for name, facts in EXPECTED["vmlinux"]["duplicates"].items():
        recs = by_obj(dbs[arch], name, "vmlinux")
        assert [(r.file, r.type) for r in recs] == [(f, t) for f, t, _ in facts["by_address"]]
        assert [r.sympos for r in recs] == list(range(1, len(recs) + 1))
        if facts["by_symtab"] != [f for f, _, _ in facts["by_address"]]:
            assert [r.file for r in recs] != facts["by_symtab"], "symtab order must not win"


@pytest.mark.parametrize("arch", ARCHES)
def test_vmlinux_unique_names(arch: str, dbs: dict[str, SymbolDB]) -> None:
    found = dbs[arch].lookup(EXPECTED["vmlinux"]["unique"])
    for name, (file, stype, bind, _section) in EXPECTED["vmlinux"]["unique"].items():
        (rec,) = [r for r in found[name] if r.obj == "vmlinux"]
        assert (rec.pos, rec.count, rec.sympos) == (1, 1, 0)
        assert (rec.type, rec.bind) == (stype, bind)
        assert rec.file == (file if bind == "LOCAL" else "")  # globals follow every file


@pytest.mark.parametrize("arch", ARCHES)
def test_exports_and_letters(arch: str, dbs: dict[str, SymbolDB]) -> None:
    db = dbs[arch]
    vmlinux_exports = {n for n, owner, _, _ in EXPECTED["module_symvers"] if owner == "vmlinux"}
    vmlinux_exports |= set(EXPECTED["arches"][arch]["arch_exports"])
    assert db.vmlinux_exports(vmlinux_exports | {"fixture_nonexp_func"}) == vmlinux_exports
    assert db.exported("fixture_log") and not db.exported("fixture_nonexp_func")
    # fixture_mod's static fixture_log is not the export
    (local,) = by_obj(db, "fixture_log", "fixture_mod")
    assert (local.exported, local.bind, local.letter) == (False, "LOCAL", "t")
    (mod_export,) = by_obj(db, "fixture_mod_exported", "fixture_mod")
    assert mod_export.exported and mod_export.letter == "T"  # /proc/kallsyms: exported = upper
    (nonexp,) = by_obj(db, "fixture_nonexp_func", "vmlinux")
    assert nonexp.letter == "T" and nonexp.address == f"{nonexp.value:016x}"


@pytest.mark.parametrize("arch", ARCHES)
def test_identity(arch: str, dbs: dict[str, SymbolDB]) -> None:
    db = dbs[arch]
    release = EXPECTED["kernel_release"]
    assert db.kernel_release == release
    assert db.vermagic.startswith(release + " ")
    assert len(db.build_id) == 40 and db.arch == arch
    assert db.object_meta("vmlinux")["banner"].startswith(f"Linux version {release} ")
    assert db.object_meta("fixture_mod")["vermagic"] == db.vermagic


# -- modules -------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHES)
def test_module_symbols_in_symtab_order(arch: str, dbs: dict[str, SymbolDB]) -> None:
    db = dbs[arch]
    facts = EXPECTED["fixture_mod"]
    assert db.objects() == ["vmlinux", facts["modname"]]  # .modinfo name=, not fixture-mod
    assert db.object_meta(facts["modname"])["path"] == "fixture-mod.ko"
    for name in ("mod_value", "mod_show"):
        recs = by_obj(db, name, "fixture_mod")
        expect = facts["duplicates"][name]["by_symtab"]
        assert [(r.file, r.type, r.section) for r in recs] == [tuple(e) for e in expect]
        assert [(r.pos, r.count, r.sympos) for r in recs] == [(1, 2, 1), (2, 2, 2)]
        assert all(r.load_order_safe for r in recs)
    for name, (file, stype, bind, section) in facts["unique"].items():
        (rec,) = by_obj(db, name, "fixture_mod")
        assert (rec.file if bind == "LOCAL" else file, rec.type, rec.bind, rec.section) == (
            file, stype, bind, section)
        assert rec.sympos == 0
        assert rec.address.startswith(section + "+0x")


@pytest.mark.parametrize("arch", ARCHES)
def test_module_init_symbols_and_load_order(arch: str, dbs: dict[str, SymbolDB]) -> None:
    """mod_probe: the .init.text copy is gone once fixture_mod is live (position 1 of 1),
    but counts while fixture_mod loads after the livepatch (position 2 of 2). ppc64's
    loader keeps .init sections with the core, so there both copies always count."""
    names = {r.name for r in dbs[arch] if r.obj == "fixture_mod"}
    # .modinfo and __versions symbols are never kallsyms symbols of a live module
    assert "__this_module" in names
    assert not any(n.startswith("__UNIQUE_ID_") and "license" in n for n in names)
    if arch == "ppc64le":
        init, core = by_obj(dbs[arch], "mod_probe", "fixture_mod")
        assert (init.section, core.section) == (".init.text", ".text")
        assert [(r.pos, r.count, r.late_pos, r.late_count) for r in (init, core)] == [
            (1, 2, 1, 2), (2, 2, 2, 2)]
        assert core.load_order_safe and core.sympos == 2
        assert "init_module" in names
        return
    (rec,) = by_obj(dbs[arch], "mod_probe", "fixture_mod")
    assert (rec.file, rec.section) == ("fixture-util.c", ".text")
    assert (rec.pos, rec.count, rec.late_pos, rec.late_count) == (1, 1, 2, 2)
    assert not rec.load_order_safe and rec.sympos is None
    assert "init_module" not in names  # .init.text


def test_kernel_tree_leaves_livepatch_modules_out(tmp_path: pathlib.Path) -> None:
    """modules.order lists .o files; the .ko beside each is read; livepatches are left out."""
    t = TESTDATA / "x86_64"
    db = tmp_path / "tree.klp"
    proc = klp("symdb", "build", "--kernel-tree", str(t), "-o", str(db))
    assert "3 livepatch modules left out" in proc.stderr
    reader = SymbolDB(str(db))
    assert reader.objects() == ["vmlinux", "fixture_mod"]
    assert reader.exported("fixture_exported_func")  # Module.symvers of the tree
    assert reader.object_meta("fixture_mod")["path"] == "modules/fixture-mod.ko"


def test_kernel_tree_without_ko_reads_the_object(tmp_path: pathlib.Path) -> None:
    """Before modpost: fixture-mod.o has no name= in .modinfo, so the file name
    gives the module name, with '-' as '_'."""
    t = TESTDATA / "x86_64"
    tree = tmp_path / "tree"
    (tree / "modules").mkdir(parents=True)
    shutil.copy(t / "vmlinux", tree / "vmlinux")
    shutil.copy(t / "modules" / "fixture-mod.o", tree / "modules" / "fixture-mod.o")
    (tree / "modules.order").write_text("modules/fixture-mod.o\n")
    klp("symdb", "build", "--kernel-tree", str(tree), "-o", str(tmp_path / "s.klp"))
    db = SymbolDB(str(tmp_path / "s.klp"))
    assert db.objects() == ["vmlinux", "fixture_mod"]
    assert [r.file for r in by_obj(db, "mod_value", "fixture_mod")] == [
        "fixture-main.c", "fixture-util.c"]


def test_livepatch_modules_are_left_out(tmp_path: pathlib.Path) -> None:
    t = TESTDATA / "x86_64"
    db = tmp_path / "s.klp"
    proc = klp("symdb", "build", "--vmlinux", str(t / "vmlinux"),
               str(t / "livepatch-fixture.ko"), "-o", str(db))
    assert "1 livepatch module left out" in proc.stderr
    assert SymbolDB(str(db)).objects() == ["vmlinux"]


def test_module_name_normalisation(tmp_path: pathlib.Path) -> None:
    """Without .modinfo name=, a file my-mod.ko.gz is the kernel's module my_mod."""
    from klp.symvers import module_name

    assert module_name("drivers/foo/fixture-mod.ko.xz") == "fixture_mod"
    assert module_name("kernel/a-b-c.ko") == "a_b_c"
    obj = tmp_path / "my-mod.o"
    shutil.copy(TESTDATA / "x86_64" / "modules" / "fixture-util.o", obj)
    klp("symdb", "build", str(obj), "-o", str(tmp_path / "s.klp"))
    assert SymbolDB(str(tmp_path / "s.klp")).objects() == ["my_mod"]


# -- inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_compressed_modules_give_the_same_records(
    suffix: str, dbs: dict[str, SymbolDB], tmp_path: pathlib.Path
) -> None:
    t = TESTDATA / "x86_64"
    mods = tmp_path / "mods"
    mods.mkdir()
    compress(t / "modules" / "fixture-mod.ko", mods / f"fixture-mod.ko{suffix}")
    klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "--modules", str(mods),
        "--symvers", str(t / "Module.symvers"), "-o", str(tmp_path / "c.klp"))
    db = SymbolDB(str(tmp_path / "c.klp"))
    assert list(db) == list(dbs["x86_64"])
    assert db.object_meta("fixture_mod")["path"] == f"fixture-mod.ko{suffix}"


def test_system_map_gives_vmlinux_positions(dbs: dict[str, SymbolDB],
                                            tmp_path: pathlib.Path) -> None:
    t = TESTDATA / "arm64"
    out = tmp_path / "m.klp"
    klp("symdb", "build", "--system-map", str(t / "System.map"), "--modules", str(t / "modules"),
        "--symvers", str(t / "Module.symvers"), "-o", str(out))
    db = SymbolDB(str(out))
    assert db.meta["vmlinux"] == "system-map" and db.build_id == ""
    assert db.kernel_release == EXPECTED["kernel_release"]  # from the modules' vermagic
    full = {(r.name, r.pos, r.count, r.value) for r in dbs["arm64"] if r.obj == "vmlinux"}
    assert {(r.name, r.pos, r.count, r.value) for r in db if r.obj == "vmlinux"} == full
    (state,) = [r for r in db.lookup(["fixture_state"])["fixture_state"] if r.pos == 2]
    assert (state.letter, state.type, state.size, state.bind) == ("d", "?", None, "LOCAL")
    assert db.exported("fixture_exported_func")


def test_system_map_cross_check(tmp_path: pathlib.Path) -> None:
    """--vmlinux with --system-map: the two must agree (a mismatched pair is refused)."""
    t = TESTDATA / "x86_64"
    klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "--system-map",
        str(t / "System.map"), "-o", str(tmp_path / "ok.klp"))
    proc = klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "--system-map",
               str(TESTDATA / "s390x" / "System.map"), "-o", str(tmp_path / "bad.klp"), check=3)
    assert "are both from the same build?" in proc.stderr
    assert not (tmp_path / "bad.klp").exists()


@pytest.mark.parametrize("change", ["drop", "add", "move"])
def test_system_map_must_list_what_vmlinux_has(tmp_path: pathlib.Path, change: str) -> None:
    """A System.map that lacks a name of the vmlinux, has one more, or puts one elsewhere
    is from another build (the sets of names are equal for every real pair)."""
    t = TESTDATA / "x86_64"
    lines = (t / "System.map").read_text().splitlines()
    last = lines[-1].split()
    lines = {"drop": lines[:-1],
             "add": [*lines, f"{last[0]} t klp_not_in_vmlinux"],
             "move": [*lines[:-1], f"{int(last[0], 16) + 16:016x} {last[1]} {last[2]}"]}[change]
    smap = tmp_path / "System.map"
    smap.write_text("\n".join(lines) + "\n")
    proc = klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "--system-map", str(smap),
               "-o", str(tmp_path / "bad.klp"), check=3)
    how = {"drop": "names it lacks", "add": "names the vmlinux lacks",
           "move": "names at other addresses"}[change]
    assert f"1 {'vmlinux ' if change == 'drop' else ''}{how}" in proc.stderr, proc.stderr
    assert not (tmp_path / "bad.klp").exists()


@pytest.mark.parametrize("line", [
    "ffffffffffffffff B The real System.map is in the linux-image-7.3.4+deb13-cloud-amd64-dbg "
    "package",
    "ffffffffc0a01000 t isofs_read_inode\t[isofs]",
])
def test_not_a_system_map_is_refused(tmp_path: pathlib.Path, line: str) -> None:
    """Debian 13's 7.3 image package ships a one-line System.map that points to the -dbg
    package; /proc/kallsyms has a module column. Both are refused, with the line."""
    smap = tmp_path / "System.map"
    smap.write_text(line + "\n")
    proc = klp("symdb", "build", "--system-map", str(smap), "-o", str(tmp_path / "bad.klp"),
               check=3)
    assert f"{smap}:1: not a System.map line (address, type, name): " in proc.stderr
    assert line.split()[2] in proc.stderr
    assert not (tmp_path / "bad.klp").exists()


def test_vmlinux_without_code_is_refused(tmp_path: pathlib.Path) -> None:
    """Debian's 7.x headers package has a vmlinux with .BTF and a few hundred BTF symbols
    only: a database of those would know none of the kernel's symbols."""
    if shutil.which("objcopy") is None:
        pytest.skip("needs binutils objcopy")
    data_only = tmp_path / "vmlinux"
    subprocess.run(["objcopy", "--only-section=.data", str(TESTDATA / "x86_64" / "vmlinux"),
                    str(data_only)], check=True)
    proc = klp("symdb", "build", "--vmlinux", str(data_only), "-o", str(tmp_path / "bad.klp"),
               check=3)
    assert "no code section, so its symbols are not the kernel's" in proc.stderr
    assert not (tmp_path / "bad.klp").exists()


def test_same_inputs_same_bytes(tmp_path: pathlib.Path) -> None:
    """Parallel or not, the bytes are the same (8 copies, so the pool really runs)."""
    t = TESTDATA / "x86_64"
    mods = tmp_path / "mods"
    mods.mkdir()
    for i in range(8):
        shutil.copy(t / "modules" / "fixture-mod.ko", mods / f"m{i}.ko")
    outs = []
    for jobs in ("1", "2", "3"):
        out = tmp_path / f"j{jobs}.klp"
        proc = klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "--modules", str(mods),
                   "-o", str(out), "--jobs", jobs)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]
    # eight files, one module name: the first is kept, the others are named
    assert proc.stderr.count("two modules named fixture_mod") == 7
    assert SymbolDB(str(tmp_path / "j1.klp")).object_meta("fixture_mod")["path"] == "m0.ko"


def test_bad_object_fails_or_is_skipped(tmp_path: pathlib.Path) -> None:
    t = TESTDATA / "x86_64"
    mods = tmp_path / "mods"
    mods.mkdir()
    shutil.copy(t / "modules" / "fixture-mod.ko", mods / "good.ko")
    (mods / "broken.ko").write_bytes(b"\x7fELF" + bytes(60))
    (mods / "trunc.ko.xz").write_bytes(b"\xfd7zXZ\x00garbage")
    out = tmp_path / "s.klp"
    proc = klp("symdb", "build", "--modules", str(mods), "-o", str(out), check=3)
    assert "broken.ko" in proc.stderr and proc.stderr.count("\n") == 1
    assert not out.exists()
    proc = klp("symdb", "build", "--modules", str(mods), "-o", str(out), "--keep-going")
    assert proc.stderr.count("skipped ") == 2 and "2 objects skipped" in proc.stderr
    assert "broken.ko" in proc.stderr and "trunc.ko.xz" in proc.stderr
    assert SymbolDB(str(out)).objects() == ["fixture_mod"]
    # no database without the vmlinux that was asked for, --keep-going or not
    proc = klp("symdb", "build", "--vmlinux", str(mods / "broken.ko"), "--modules", str(mods),
               "-o", str(tmp_path / "v.klp"), "--keep-going", check=3)
    assert "broken.ko" in proc.stderr


def test_usage_errors(tmp_path: pathlib.Path) -> None:
    # a command line klp cannot act on is exit 2, as documented; a missing file is bad input
    assert "nothing to scan" in klp("symdb", "build", "-o", str(tmp_path / "x"), check=2).stderr
    assert "no such file" in klp("symdb", "build", "--vmlinux", str(tmp_path / "none"),
                                 check=3).stderr
    assert "--format" in klp("symdb", "build", "--vmlinux", str(TESTDATA / "x86_64" / "vmlinux"),
                             "--format", "nm", check=2).stderr
    assert "no vmlinux" in klp("symdb", "build", "--kernel-tree", str(tmp_path), check=3).stderr


# -- upstream format -------------------------------------------------------------------


def test_upstream_format(dbs: dict[str, SymbolDB], tmp_path: pathlib.Path) -> None:
    db = build("x86_64", tmp_path, "--format", "klp-convert-0.1")
    lines = db.read_text().splitlines()
    assert lines[:2] == ["klp-convert-symbol-data.0.1", "*vmlinux"]
    assert "*fixture_mod" in lines and "__ksymtab_fixture_log" in lines
    assert "__ksymtab_fixture_mod_exported" in lines[lines.index("*fixture_mod"):]
    vmlinux = lines[2 : lines.index("*fixture_mod")]
    assert vmlinux == [r.name for r in dbs["x86_64"] if r.obj == "vmlinux"]  # kallsyms order
    reader = SymbolDB(str(db))
    assert reader.format == "klp-convert-0.1" and not reader.positions_exact
    found = reader.lookup(["fixture_state", "mod_value", "fixture_log"])
    assert [(r.obj, r.pos, r.count) for r in found["fixture_state"]] == [
        ("vmlinux", 1, 2), ("vmlinux", 2, 2)]
    assert {r.obj for r in found["mod_value"]} == {"fixture_mod"}
    assert reader.exported("fixture_log") and not reader.exported("fixture_state")
    assert reader.objects() == ["vmlinux", "fixture_mod"]


# -- query -----------------------------------------------------------------------------


def test_query_json_and_table(tmp_path: pathlib.Path) -> None:
    db = build("x86_64", tmp_path)
    doc = json.loads(klp("symdb", "query", "fixture_state", "mod_probe", "--symdb", str(db),
                         "--json").stdout)
    assert doc["release"] == EXPECTED["kernel_release"] and doc["format"] == "klp"
    rows = doc["symbols"]["fixture_state"]
    assert [(r["obj"], r["pos"], r["sympos"], r["file"]) for r in rows] == [
        ("vmlinux", 1, 1, "util.c"), ("vmlinux", 2, 2, "core.c")]
    assert doc["symbols"]["mod_probe"][0]["sympos"] is None
    table = klp("symdb", "query", "-d", str(db), "fixture_count").stdout
    assert table.count("fixture_count") == 3 and "head.c" in table
    missing = klp("symdb", "query", "--symdb", str(db), "fixture_stat", check=1)
    assert "did you mean fixture_state" in missing.stderr
    assert "unrecognized arguments: --symbd" in klp("symdb", "query", "--symbd", str(db), "x",
                                                    check=2).stderr
    assert "not a symbols.klp" in klp("symdb", "query", "--symdb",
                                      str(TESTDATA / "x86_64" / "System.map"), "x",
                                      check=3).stderr
