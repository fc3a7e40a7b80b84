"""The record of the converted-for build that ``klp convert`` writes into a module
(``.klp.converted``, klp/livepatch/converted.py), and ``klp verify``'s use of it: on
a target where a position binds another copy than it named at conversion, verify
refuses without being given the old database."""

from __future__ import annotations

import json
import pathlib
import subprocess
from typing import Any

import pytest

from klp.convert.api import convert_module
from klp.elfcodec.constants import SHT
from klp.elfcodec.elffile import ElfFile
from klp.errors import OutputError
from klp.livepatch import converted
from klp.livepatch.converted import SECTION
from klp.symdb.format import SymbolDB
from klp.symdb.model import ObjectSymbols
from tests.support.cli import klp
from tests.support.paths import ARCHES, TESTDATA
from tests.support.readelf import readelf
from tests.support.symdb import kallsyms_dump, respun, write

#: The sample kernel's identity, as the record names it in messages.
BUILD = "6.1.0-klp-fixture (build ID b1fc72b65f8e)"


def convert(arch: str, db: pathlib.Path, out: pathlib.Path, *extra: str) -> pathlib.Path:
    t = TESTDATA / arch
    klp("convert", str(t / "livepatch-fixture.ko"), "-o", str(out), "--symdb", str(db),
        "--symvers", str(t / "Module.symvers"), *extra)
    return out


@pytest.fixture(scope="module")
def patch(converted: dict[str, pathlib.Path]) -> pathlib.Path:
    """livepatch-fixture.ko of x86_64, converted: .klp.sym.vmlinux.fixture_state,2 names
    core.c's object, position 1 being util.c's function."""
    return converted["x86_64"]


def verify(module: pathlib.Path, check: int, *args: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(klp("verify", str(module), "--json", *args,
                                         check=check).stdout)
    return doc


@pytest.mark.parametrize("arch", ARCHES)
def test_the_record_is_a_section_the_kernel_does_not_load(arch: str,
                                                          dbs: dict[str, pathlib.Path],
                                                          tmp_path: pathlib.Path) -> None:
    """readelf sees a PROGBITS section without flags (no SHF_ALLOC: the loader neither
    copies nor relocates it); converting again gives the same bytes."""
    out = convert(arch, dbs[arch], tmp_path / "patch.ko")
    [section] = [s for s in readelf(str(out)).sections if s[1] == SECTION]
    assert (section[2], section[7]) == ("PROGBITS", "")
    assert convert(arch, dbs[arch], tmp_path / "again.ko").read_bytes() == out.read_bytes()


def test_the_record_holds_every_copy_of_each_bound_name(patch: pathlib.Path,
                                                        dbs: dict[str, pathlib.Path],
                                                        tmp_path: pathlib.Path) -> None:
    """objcopy takes the section out as it is; it is a symbols.klp that klp symdb query
    reads: each name a klp symbol or klp_func binds, with all its copies in the object
    it binds in, and the build's identity."""
    record = tmp_path / "record.klp"
    subprocess.run(["objcopy", f"--dump-section={SECTION}={record}", str(patch),
                    str(tmp_path / "scratch.ko")], check=True)
    db, full = SymbolDB(str(record)), SymbolDB(str(dbs["x86_64"]))
    assert (db.kernel_release, db.build_id) == (full.kernel_release, full.build_id)
    assert db.objects() == ["vmlinux", "fixture_mod"]
    state = json.loads(klp("symdb", "query", "-d", str(record), "fixture_state", "--json").stdout)
    assert [(r["pos"], r["file"], r["type"]) for r in state["symbols"]["fixture_state"]] == [
        (1, "util.c", "FUNC"), (2, "core.c", "OBJECT")]
    names = {r.name for r in db}
    assert {"fixture_state", "fixture_helper", "fixture_nonexp_func", "mod_value"} <= names
    assert all(r in full.lookup([r.name])[r.name] for r in db)


def test_the_same_build_passes(patch: pathlib.Path, dbs: dict[str, pathlib.Path]) -> None:
    doc = verify(patch, 0, "--symdb", str(dbs["x86_64"]))
    assert doc["problems"] == [] and doc["target"]["converted_for"] == BUILD
    assert not [w for w in doc["warnings"] if "converted" in w]


def test_the_summary_names_the_build_positions_were_checked_against(
        patch: pathlib.Path, dbs: dict[str, pathlib.Path]) -> None:
    last = klp("verify", str(patch), "--symdb", str(dbs["x86_64"])).stdout.splitlines()[-1]
    assert last == (f"{patch}: 12 klp symbols and 2 functions bind on {dbs['x86_64']}; "
                    f"positions checked against {BUILD}, the build it was converted for")


def test_a_moved_copy_is_refused_without_the_old_database(patch: pathlib.Path,
                                                          dbs: dict[str, pathlib.Path],
                                                          tmp_path: pathlib.Path) -> None:
    target = respun(dbs["x86_64"], tmp_path, "fixture_state")
    [problem] = verify(patch, 4, "--symdb", str(target))["problems"]
    assert problem["symbol"] == ".klp.sym.vmlinux.fixture_state,2"
    assert problem["message"] == (
        f"position 2 binds the function of util.c on the target, but named the data of "
        f"core.c on {BUILD}, the build it was converted for; on the target it is "
        ".klp.sym.vmlinux.fixture_state,1: convert the module again against the target's "
        "database")


def test_converted_with_replaces_the_record(patch: pathlib.Path,
                                            dbs: dict[str, pathlib.Path],
                                            tmp_path: pathlib.Path) -> None:
    """For a module klp did not convert, or converted against another database than
    the record says: --converted-with is what the user knows better."""
    target = respun(dbs["x86_64"], tmp_path, "fixture_state")
    doc = verify(patch, 0, "--symdb", str(target), "--converted-with", str(target))
    assert doc["problems"] == [] and "converted_for" not in doc["target"]


def test_a_running_kernel_tells_code_from_data(patch: pathlib.Path,
                                               dbs: dict[str, pathlib.Path],
                                               tmp_path: pathlib.Path) -> None:
    """/proc/kallsyms has no source files, but its letters say that position 2 is now a
    function where the record says data."""
    dump = kallsyms_dump(respun(dbs["x86_64"], tmp_path, "fixture_state"), tmp_path / "kallsyms")
    problems = verify(patch, 4, "--kallsyms", str(dump))["problems"]
    [problem] = problems
    assert problem["message"].startswith(
        f"position 2 binds the function on the target, but named the data of core.c on {BUILD}")
    same = verify(patch, 0, "--kallsyms", str(kallsyms_dump(dbs["x86_64"], tmp_path / "same")))
    [blind] = [w for w in same["warnings"] if "bind the copies they named" in w]
    assert ".klp.sym.fixture_mod.mod_value,2" in blind


def test_another_build_of_an_object_is_a_warning(patch: pathlib.Path,
                                                 dbs: dict[str, pathlib.Path],
                                                 tmp_path: pathlib.Path) -> None:
    """The same symbols, but vmlinux and fixture_mod with other build IDs (a rebuild):
    the positions still name their copies, but the code the patch replaces may
    differ."""
    source = SymbolDB(str(dbs["x86_64"]))
    objects = [ObjectSymbols.from_records(
        [r for r in source if r.obj == obj], name=obj, arch=source.arch,
        meta={**source.object_meta(obj), "build-id": n * 20})
        for n, obj in zip(("ab", "cd"), source.objects(), strict=True)]
    target = pathlib.Path(write(tmp_path, objects).path)
    doc = verify(patch, 0, "--symdb", str(target))
    rebuilt = [w for w in doc["warnings"] if "than the module was converted for" in w]
    assert rebuilt == [
        "vmlinux on the target is another build than the module was converted for (build-id "
        "abababababababababababab, converted for b1fc72b65f8e5e0263e86292): each position was "
        "checked against the copy it named, but the code the patch replaces may differ too",
        "fixture_mod on the target is another build than the module was converted for "
        "(build-id cdcdcdcdcdcdcdcdcdcdcdcd, converted for 20f5cc3cff2e4b346c700107): each "
        "position was checked against the copy it named, but the code the patch replaces may "
        "differ too"]


def sysfs_copy(arch: str, folder: pathlib.Path, *, changed: str = "") -> pathlib.Path:
    """The sample kernel's /sys as it shows the running build: kernel/notes (vmlinux's
    .notes, in the kernel's byte order) and the loaded fixture_mod's notes/ and
    srcversion; ``changed``: the object whose build ID a rebuild changed."""
    t = TESTDATA / arch
    files = {"kernel/notes": (t / "vmlinux", ".notes", "vmlinux"),
             "module/fixture_mod/notes/.note.gnu.build-id": (
                 t / "modules" / "fixture-mod.ko", ".note.gnu.build-id", "fixture_mod")}
    for name, (path, section, obj) in files.items():
        sec = ElfFile.open(path).find_section(section)
        assert sec is not None
        notes = bytes(sec.raw())
        if obj == changed:  # the last byte of the build ID, which ends the note
            notes = notes[:-1] + bytes([notes[-1] ^ 0xFF])
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(notes)
    (folder / "module" / "fixture_mod" / "srcversion").write_text("0123456789ABCDEF0123456\n")
    return folder


@pytest.mark.parametrize("arch", ARCHES)
def test_a_running_kernel_says_which_build_it_is(arch: str, converted: dict[str, pathlib.Path],
                                                 dbs: dict[str, pathlib.Path],
                                                 tmp_path: pathlib.Path) -> None:
    """/proc/kallsyms names no build; sysfs does (--sysfs: kernel/notes for vmlinux,
    module/NAME/notes for a loaded module, big-endian on s390x): the converted-for build
    passes without a word, a rebuilt vmlinux or module is a warning."""
    dump = kallsyms_dump(dbs[arch], tmp_path / "kallsyms")
    same = verify(converted[arch], 0, "--kallsyms", str(dump),
                  "--sysfs", str(sysfs_copy(arch, tmp_path / "same")))
    assert same["target"]["sysfs"] == str(tmp_path / "same")
    assert not [w for w in same["warnings"] if "than the module was converted for" in w]
    for obj in ("vmlinux", "fixture_mod"):
        doc = verify(converted[arch], 0, "--kallsyms", str(dump),
                     "--sysfs", str(sysfs_copy(arch, tmp_path / obj, changed=obj)))
        [rebuilt] = [w for w in doc["warnings"] if "than the module was converted for" in w]
        assert rebuilt.startswith(f"{obj} on the target is another build than the module "
                                  "was converted for (build-id "), rebuilt


def test_sysfs_goes_with_a_running_kernel(patch: pathlib.Path, dbs: dict[str, pathlib.Path],
                                          tmp_path: pathlib.Path) -> None:
    """--sysfs is for a kallsyms dump (a symdb has its build IDs), and a folder without
    kernel/notes is not a copy of /sys."""
    usage = klp("verify", str(patch), "--symdb", str(dbs["x86_64"]), "--sysfs", str(tmp_path),
                check=2)
    assert "--sysfs goes with --kallsyms" in usage.stderr
    dump = kallsyms_dump(dbs["x86_64"], tmp_path / "kallsyms")
    wrong = klp("verify", str(patch), "--kallsyms", str(dump), "--sysfs", str(tmp_path), check=3)
    assert wrong.stderr == f"klp: error: {tmp_path}: no kernel/notes (not the target's /sys " \
                           "or a copy of it)\n"
    copy = sysfs_copy("x86_64", tmp_path / "sys")
    note = copy / "module" / "fixture_mod" / "notes" / ".note.gnu.build-id"
    note.unlink()
    note.mkdir()  # a file that cannot be read: said, and that object's build unchecked
    doc = verify(patch, 0, "--kallsyms", str(dump), "--sysfs", str(copy))
    assert f"{note}: not a regular file (a folder): the build it names is not checked" \
        in doc["warnings"], doc["warnings"]


def test_a_damaged_record_is_bad_input(patch: pathlib.Path, dbs: dict[str, pathlib.Path],
                                       tmp_path: pathlib.Path) -> None:
    elf = ElfFile.open(patch)
    section = elf.find_section(SECTION)
    assert section is not None
    section.data = section.data.replace(b"fixture_state\t2\t2", b"fixture_state\t3\t2")
    elf.write(tmp_path / "damaged.ko")
    proc = klp("verify", str(tmp_path / "damaged.ko"), "--symdb", str(dbs["x86_64"]), check=3)
    assert proc.stderr == (
        f"klp: error: {tmp_path / 'damaged.ko'} ({SECTION}): damaged symbols.klp (a malformed "
        "symbol line at offset 1106); convert the module again\n")


def test_an_upstream_database_records_nothing(dbs: dict[str, pathlib.Path],
                                             tmp_path: pathlib.Path) -> None:
    """The klp-convert-0.1 format counts no kernel positions: there is nothing to keep."""
    t = TESTDATA / "x86_64"
    upstream = tmp_path / "upstream.sym"
    klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "--modules", str(t / "modules"),
        "--format", "klp-convert-0.1", "-o", str(upstream))
    out = tmp_path / "patch.ko"
    klp("convert", str(t / "livepatch-split.ko"), "-o", str(out), "--symdb", str(upstream),
        "--symvers", str(t / "Module.symvers"), check=None)
    if out.exists():
        assert ElfFile.open(out).find_section(SECTION) is None


def test_converting_again_keeps_the_record(patch: pathlib.Path, dbs: dict[str, pathlib.Path],
                                           tmp_path: pathlib.Path) -> None:
    again = tmp_path / "again.ko"
    klp("convert", str(patch), "-o", str(again), "--symdb", str(dbs["x86_64"]))
    assert again.read_bytes() == patch.read_bytes()
    assert ElfFile.open(again).find_section(SECTION).sh_type == SHT.PROGBITS  # type: ignore[union-attr]


def test_a_record_klp_cannot_read_back_is_not_written(dbs: dict[str, pathlib.Path],
                                                      tmp_path: pathlib.Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The record is part of the output: it is read back in full before anything is
    written, as the ELF file is."""
    def damaged(*args: object) -> bytes:
        return b"klp-symbols 1\n#end\t0000000000000000\n"

    monkeypatch.setattr(converted, "record", damaged)
    t = TESTDATA / "x86_64"
    out = tmp_path / "patch.ko"
    with pytest.raises(OutputError, match=r"not written: klp could not read back its "
                                          r"\.klp\.converted \(.*damaged symbols\.klp"):
        convert_module(t / "livepatch-fixture.ko", output=out, symdb=dbs["x86_64"],
                       symvers=t / "Module.symvers")
    assert not out.exists()


def test_query_reads_a_modules_record(patch: pathlib.Path) -> None:
    """``klp symdb query -d PATCH.ko``: what each name was on the converted-for build."""
    doc = json.loads(klp("symdb", "query", "-d", str(patch), "fixture_helper", "--json").stdout)
    assert [(r["obj"], r["pos"], r["file"]) for r in doc["symbols"]["fixture_helper"]] == [
        ("vmlinux", 1, "core.c"), ("vmlinux", 2, "util.c")]
    plain = TESTDATA / "x86_64" / "livepatch-fixture.ko"
    assert klp("symdb", "query", "-d", str(plain), "fixture_helper", check=3).stderr == (
        f"klp: error: {plain}: no {SECTION} section: not a module klp convert wrote against a "
        "symbols.klp in klp's format\n")


def test_two_records_are_bad_input_and_convert_keeps_one(patch: pathlib.Path,
                                                        dbs: dict[str, pathlib.Path],
                                                        tmp_path: pathlib.Path) -> None:
    """A second record (a tool that appended one) makes the converted-for build
    unclear; converting again leaves the module's own record alone."""
    elf = ElfFile.open(patch)
    elf.add_section(SECTION, SHT.PROGBITS, data=elf.find_section(SECTION).data)  # type: ignore[union-attr]
    doubled = tmp_path / "doubled.ko"
    elf.write(doubled)
    proc = klp("verify", str(doubled), "--symdb", str(dbs["x86_64"]), check=3)
    assert proc.stderr == (f"klp: error: {doubled} ({SECTION}): 2 sections of that name, so "
                           "which build the module was converted for is not clear; convert the "
                           "module again\n")
    t = TESTDATA / "x86_64"
    elf = ElfFile.open(t / "livepatch-fixture.ko")
    elf.add_section(SECTION, SHT.PROGBITS, data=b"stale")
    elf.add_section(SECTION, SHT.PROGBITS, data=b"stale")
    stale = tmp_path / "stale.ko"
    elf.write(stale)
    out = convert("x86_64", dbs["x86_64"], tmp_path / "out.ko")
    again = tmp_path / "again.ko"
    klp("convert", str(stale), "-o", str(again), "--symdb", str(dbs["x86_64"]), "--symvers",
        str(t / "Module.symvers"))
    records = [s for s in ElfFile.open(again).sections if s.name == SECTION]
    assert [s.data for s in records] == [ElfFile.open(out).find_section(SECTION).data]  # type: ignore[union-attr]
