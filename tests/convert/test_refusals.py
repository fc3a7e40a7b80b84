"""Input that would give a module the kernel loads but never applies is refused.

Each case edits a bundled livepatch with the codec (the same bytes a compiler
would have produced for the mistake), runs ``klp convert`` as a user does and
checks the exit code, the message, and that nothing was written.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from klp.elfcodec.constants import SHF
from klp.elfcodec.elffile import ElfFile
from klp.livepatch.registration import read_registration
from klp.livepatch.rules import object_registered, registered_name
from klp.symdb import callsites
from klp.symdb.build import build as build_symdb
from klp.symdb.sources import find_sources
from tests.support.cli import klp
from tests.support.convert import edited, replace_string, unregister
from tests.support.paths import ARCHES, TESTDATA
from tests.support.symdb import build

FIXTURE = "livepatch-fixture.ko"


@pytest.mark.parametrize("arch", ARCHES)
def test_registration_of_every_fixture_is_read(arch: str) -> None:
    for name in ("livepatch-fixture.ko", "livepatch-ambiguous.ko", "livepatch-split.ko"):
        found = read_registration(ElfFile.open(TESTDATA / arch / name))
        assert found.names == {"vmlinux", "fixture_mod"}, (name, found.source)


@pytest.mark.parametrize("arch", ARCHES)
def test_relocations_for_an_unregistered_object_are_refused(
        arch: str, dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    module = edited(tmp_path, arch, unregister(b"fixture_mod"))
    assert read_registration(ElfFile.open(module)).names == {"vmlinux"}
    out = tmp_path / "out.ko"
    proc = klp("convert", str(module), "-o", str(out), "--symdb", str(dbs[arch]),
               "--symvers", str(TESTDATA / arch / "Module.symvers"), "--json", check=4)
    problems = json.loads(proc.stdout)["problems"]
    assert [p["kind"] for p in problems] == ["registration"]
    assert "registers no klp_object for fixture_mod" in problems[0]["message"]
    assert '{ .name = "fixture_mod", .funcs = ... }' in problems[0]["message"]
    assert not out.exists()
    # --force cannot help: the kernel would still never apply those relocations
    klp("convert", str(module), "-o", str(out), "--symdb", str(dbs[arch]), "--force",
        check=4)


@pytest.mark.parametrize(("written", "fixed"), [(b"fixture-mod", "fixture_mod"),
                                                (b"fixture.ko", "fixture")])
def test_a_registered_name_the_kernel_never_matches_is_refused(
        written: bytes, fixed: str, dbs: dict[str, pathlib.Path],
        tmp_path: pathlib.Path) -> None:
    module = edited(tmp_path, "x86_64", replace_string(b"fixture_mod", written))
    proc = klp("convert", str(module), "-o", str(tmp_path / "o.ko"), "--symdb",
               str(dbs["x86_64"]), "--symvers", str(TESTDATA / "x86_64" / "Module.symvers"),
               "--force", "--json", check=4)
    messages = [p["message"] for p in json.loads(proc.stdout)["problems"]]
    assert any(f'write .name = "{fixed}"' in m for m in messages), messages
    # and fixture_mod itself is now unregistered
    assert any("registers no klp_object for fixture_mod" in m for m in messages)


def test_a_registered_object_the_symdb_lacks_needs_force(tmp_path: pathlib.Path) -> None:
    """A vmlinux-only database cannot vouch for module names: --force overrides."""
    t = TESTDATA / "x86_64"
    db = tmp_path / "vmlinux-only.klp"
    klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "-o", str(db))
    args = ("convert", str(t / "livepatch-ambiguous.ko"), "--dry-run", "--symdb", str(db),
            "--symvers", str(t / "Module.symvers"), "--json")
    report = json.loads(klp(*args, check=4).stdout)
    [named] = [p for p in report["problems"] if p["kind"] == "registration"]
    assert named["forcible"] and "has no modules" in named["message"]
    forced = json.loads(klp(*args, "--force", check=4).stdout)  # mod_value stays unknown
    assert all(p["kind"] != "registration" for p in forced["problems"])
    assert any("has no modules" in w for w in forced["warnings"])


@pytest.mark.parametrize(("obj", "registered", "version", "refused"), [
    ("vmlinux", {"vmlinux"}, (4, 19), False),
    ("vmlinux", set(), (5, 8), False),  # applied by the module loader since v5.8
    ("vmlinux", set(), (5, 7), True),
    ("vmlinux", set(), None, True),
    ("binfmt_misc", {"vmlinux"}, (6, 1), True),
    ("binfmt_misc", {"binfmt_misc"}, (6, 1), False),
])
def test_object_registered(obj: str, registered: set[str], version: tuple[int, int] | None,
                           refused: bool) -> None:
    assert bool(object_registered(obj, registered, version)) == refused


@pytest.mark.parametrize(("name", "known", "refused", "forcible"), [
    ("binfmt_misc", {"vmlinux", "binfmt_misc"}, False, False),
    ("binfmt_misc", None, False, False),  # no database: nothing to compare with
    ("binfmt-misc", None, True, False),
    ("zfs.ko", {"vmlinux", "zfs"}, True, False),
    ("x" * 56, None, True, False),
    ("zfs", {"vmlinux", "xfs"}, True, True),
    ("zfs", {"vmlinux"}, True, True),
])
def test_registered_name(name: str, known: set[str] | None, refused: bool,
                         forcible: bool) -> None:
    found = registered_name(name, known)
    assert bool(found) == refused
    assert found is None or found[1] == forcible


@pytest.mark.parametrize("arch", ARCHES)
def test_a_module_without_livepatch_y_needs_force(
        arch: str, dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    def not_a_livepatch(elf: ElfFile) -> None:
        modinfo = elf.find_section(".modinfo")
        assert modinfo is not None
        modinfo.data = modinfo.data.replace(b"livepatch=Y\0", b"livepatch=N\0")
    module = edited(tmp_path, arch, not_a_livepatch)
    out = tmp_path / "out.ko"
    base = ("convert", str(module), "-o", str(out), "--symdb", str(dbs[arch]), "--symvers",
            str(TESTDATA / arch / "Module.symvers"), "--json")
    [problem] = json.loads(klp(*base, check=4).stdout)["problems"]
    assert "no livepatch=Y" in problem["message"] and problem["forcible"]
    assert not out.exists()
    report = json.loads(klp(*base, "--force", check=0).stdout)
    assert any("no livepatch=Y" in w for w in report["warnings"]) and out.exists()


def test_output_naming_the_input_is_refused(dbs: dict[str, pathlib.Path],
                                            tmp_path: pathlib.Path) -> None:
    module = tmp_path / FIXTURE
    module.write_bytes((TESTDATA / "x86_64" / FIXTURE).read_bytes())
    alias = tmp_path / "alias.ko"
    os.link(module, alias)
    link = tmp_path / "link.ko"
    link.symlink_to(module)
    before = module.read_bytes()
    for output in (module, alias, link, tmp_path / "." / FIXTURE):
        proc = klp("convert", str(module), "-o", str(output), "--symdb", str(dbs["x86_64"]),
                   check=2)
        assert "names the input; use --in-place" in proc.stderr
    assert module.read_bytes() == before


def test_upstream_database_of_another_arch_is_stale(tmp_path: pathlib.Path) -> None:
    """The klp-convert-0.1 format records no kernel identity; vmlinux must still
    define what the module needs from it (here: x86_64's __fentry__)."""
    db = build("arm64", tmp_path, "--format", "klp-convert-0.1")
    proc = klp("convert", str(TESTDATA / "x86_64" / FIXTURE), "-o", str(tmp_path / "o.ko"),
               "--symdb", str(db), check=5)
    assert "its vmlinux has no __fentry__" in proc.stderr
    same = build("x86_64", tmp_path, "--format", "klp-convert-0.1")
    report = json.loads(klp("convert", str(TESTDATA / "x86_64" / FIXTURE), "-o",
                            str(tmp_path / "o.ko"), "--symdb", str(same), "--symvers",
                            str(TESTDATA / "x86_64" / "Module.symvers"), "--json",
                            check=0).stdout)
    assert any("records no kernel identity" in w for w in report["warnings"])


def test_annotation_for_an_object_the_symdb_lacks(dbs: dict[str, pathlib.Path],
                                                  tmp_path: pathlib.Path) -> None:
    def misname(elf: ElfFile) -> None:
        anno = elf.find_section(".klp.module_relocs.fixture_mod")
        assert anno is not None
        elf.rename_section(anno, ".klp.module_relocs.fixture_mox")
    module = edited(tmp_path, "x86_64", misname)
    proc = klp("convert", str(module), "--dry-run", "--symdb", str(dbs["x86_64"]), "--symvers",
               str(TESTDATA / "x86_64" / "Module.symvers"), "--json", check=4)
    messages = [p["message"] for p in json.loads(proc.stdout)["problems"]]
    assert any("names object fixture_mox, which the symbol database does not have" in m
               for m in messages), messages


def test_unknown_name_in_a_database_without_modules(tmp_path: pathlib.Path) -> None:
    t = TESTDATA / "x86_64"
    db = tmp_path / "vmlinux-only.klp"
    klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "-o", str(db))
    proc = klp("convert", str(t / "livepatch-ambiguous.ko"), "--dry-run", "--symdb", str(db),
               "--symvers", str(t / "Module.symvers"), "--json", check=4)
    [unknown] = [p for p in json.loads(proc.stdout)["problems"] if p["kind"] == "unknown"]
    assert unknown["symbol"] == "mod_value"
    assert "rebuild the database with --modules" in unknown["message"]


def test_one_array_cannot_mean_two_copies() -> None:
    """Also when the array is not static, so no symbol records its file."""
    from klp.convert.annotations import Annotation
    from klp.convert.plan import _conflict_in_one_array

    class NoFiles:
        def file_of(self, shndx: int, offset: int) -> None:
            return None

    notes = [Annotation("count", "vmlinux", 2, ".klp.module_relocs.vmlinux", 5, 0, "relocs"),
             Annotation("count", "vmlinux", 3, ".klp.module_relocs.vmlinux", 5, 12, "relocs")]
    message = _conflict_in_one_array(notes, NoFiles())  # type: ignore[arg-type]
    assert message is not None and "in the array relocs" in message
    assert "static" not in message
    apart = [notes[0], Annotation("count", "vmlinux", 3, ".klp.module_relocs.vmlinux", 5, 12,
                                  "other")]
    assert _conflict_in_one_array(apart, NoFiles()) is None  # type: ignore[arg-type]


def _forced_warnings(module: pathlib.Path, arch: str, db: pathlib.Path,
                     tmp_path: pathlib.Path, refused: int) -> list[str]:
    """The --force warnings of converting ``module``, refused with exit ``refused``
    without --force."""
    base = ("convert", str(module), "-o", str(tmp_path / "out.ko"), "--symdb", str(db),
            "--symvers", str(TESTDATA / arch / "Module.symvers"), "--json")
    klp(*base, check=refused)
    report = json.loads(klp(*base, "--force", check=0).stdout)
    return [w for w in report["warnings"] if w.startswith("--force: ")]


def test_a_late_write_into_read_only_data_is_forced_once(
        dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    """ppc64le: convert's plan and the verify of its result find the same fault, and
    --force says it once (per klp section), not once per stage."""
    def read_only_data(elf: ElfFile) -> None:
        for sec in elf.sections:
            if sec.name.startswith(".data"):
                sec.sh_flags &= ~SHF.WRITE
    module = edited(tmp_path, "ppc64le", read_only_data)
    warnings = _forced_warnings(module, "ppc64le", dbs["ppc64le"], tmp_path, refused=4)
    late = [w for w in warnings if "ppc64le writes module fixture_mod" in w]
    assert late and len(late) == len(set(late)), warnings
    assert all(w.startswith("--force: .klp.rela.fixture_mod.") for w in late), warnings


def test_another_kernels_vermagic_is_forced_once(dbs: dict[str, pathlib.Path],
                                                 tmp_path: pathlib.Path) -> None:
    def another_kernel(elf: ElfFile) -> None:
        modinfo = elf.find_section(".modinfo")
        assert modinfo is not None
        modinfo.data = modinfo.data.replace(b"vermagic=6.1.0-klp-fixture ",
                                            b"vermagic=6.1.0-klp-other00 ")
    module = edited(tmp_path, "x86_64", another_kernel)
    warnings = _forced_warnings(module, "x86_64", dbs["x86_64"], tmp_path, refused=5)
    assert len([w for w in warnings if "vermagic" in w]) == 1, warnings


def _calls_init_code(elf: ElfFile) -> None:
    """The patch calls fixture_early_setup (core.c's __init function) where it called
    fixture_nonexp_func: the same relocations, against code freed after boot."""
    table = elf.symtab
    elf.rename_symbol(table.names().index("fixture_nonexp_func"), "fixture_early_setup")


@pytest.mark.parametrize("arch", ARCHES)
def test_a_reference_to_init_code_is_refused(arch: str, dbs: dict[str, pathlib.Path],
                                             tmp_path: pathlib.Path) -> None:
    module = edited(tmp_path, arch, _calls_init_code)
    out = tmp_path / "out.ko"
    base = ("convert", str(module), "-o", str(out), "--symdb", str(dbs[arch]),
            "--symvers", str(TESTDATA / arch / "Module.symvers"), "--json")
    problems = json.loads(klp(*base, check=4).stdout)["problems"]
    assert [(p["kind"], p["symbol"], p["forcible"]) for p in problems] == [
        ("rule", "fixture_early_setup", True)]
    assert "init function of vmlinux (.init.text)" in problems[0]["message"]
    assert [(c["obj"], c["section"]) for c in problems[0]["candidates"]] == [
        ("vmlinux", ".init.text")]
    assert not out.exists()
    warnings = json.loads(klp(*base, "--force").stdout)["warnings"]
    assert len([w for w in warnings if "init function" in w]) == 1, warnings
    # what convert forced, verify finds in the module (and refuses: it has no --force)
    found = json.loads(klp("verify", str(out), "--symdb", str(dbs[arch]), "--json",
                           check=4).stdout)
    assert [p["symbol"] for p in found["problems"]] == [
        ".klp.sym.vmlinux.fixture_early_setup,0"]


def test_init_code_from_system_map_alone_is_a_warning(tmp_path: pathlib.Path) -> None:
    """System.map has no symbol types: an init function and a linker-made bound like
    _sinittext look alike, so klp warns and says how to know."""
    t = TESTDATA / "x86_64"
    db = tmp_path / "map.klp"
    klp("symdb", "build", "--system-map", str(t / "System.map"), "--modules", str(t / "modules"),
        "-o", str(db))
    module = edited(tmp_path, "x86_64", _calls_init_code)
    report = json.loads(klp("convert", str(module), "-o", str(tmp_path / "out.ko"), "--symdb",
                            str(db), "--symvers", str(t / "Module.symvers"), "--json").stdout)
    assert len([w for w in report["warnings"] if "init symbol of vmlinux" in w
                and "built with --vmlinux" in w]) == 1, report["warnings"]
    # klp verify on the running kernel's symbols (/proc/kallsyms has no types either)
    checked = json.loads(klp("verify", str(tmp_path / "out.ko"), "--kallsyms",
                             str(t / "System.map"), "--modules", str(t / "modules"),
                             "--json").stdout)
    assert [w for w in checked["warnings"] if "init symbol of vmlinux" in w], checked


def _shared_call_site_db(arch: str, tmp_path: pathlib.Path,
                         monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """The sample kernel's database, as it would be if the body of an overridden __weak
    function followed fixture_nonexp_func: two ftrace call sites in its kallsyms range,
    none at its address (loadavg_proc_show on ppc64le 6.1; tests/e2e boots that case)."""
    t = TESTDATA / arch
    address = next(int(line.split()[0], 16) for line in
                   (t / "System.map").read_text().splitlines()
                   if line.endswith(" fixture_nonexp_func"))
    monkeypatch.setattr(callsites, "vmlinux_shared", lambda *_: {f"{address:016x}": (4, 0x90)})
    sources = find_sources(vmlinux=str(t / "vmlinux"), modules_dir=str(t / "modules"),
                           symvers=str(t / "Module.symvers"))
    db = tmp_path / f"{arch}-shared.klp"
    db.write_bytes(build_symdb(sources, jobs=1).data)
    return db


@pytest.mark.parametrize("arch", ARCHES)
def test_a_function_with_a_shared_call_site_is_refused(
        arch: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _shared_call_site_db(arch, tmp_path, monkeypatch)
    out = tmp_path / "out.ko"
    base = ("convert", str(TESTDATA / arch / FIXTURE), "-o", str(out), "--symdb", str(db),
            "--symvers", str(TESTDATA / arch / "Module.symvers"), "--json")
    problems = json.loads(klp(*base, check=4).stdout)["problems"]
    assert [(p["kind"], p["symbol"], p["forcible"]) for p in problems] == [
        ("function", "fixture_nonexp_func", True)]
    message = problems[0]["message"]
    assert "range holds 2 ftrace call sites (+0x4, +0x90) and none at its address" in message
    assert "+0x90 lies past its end" in message and "replace a caller" in message
    assert not out.exists()
    warnings = json.loads(klp(*base, "--force").stdout)["warnings"]
    assert len([w for w in warnings if "ftrace call sites" in w]) == 1, warnings
    found = json.loads(klp("verify", str(out), "--symdb", str(db), "--json", check=4).stdout)
    assert [(p["kind"], p["symbol"]) for p in found["problems"]] == [
        ("function", "fixture_nonexp_func")]
    # verify has no --force: it names the command that has
    shown = " ".join(klp("verify", str(out), "--symdb", str(db), check=4).stderr.split())
    assert "(klp convert --force overrides)" in shown, shown


def test_call_sites_unknown_is_a_warning(tmp_path: pathlib.Path) -> None:
    """A database from System.map alone, and /proc/kallsyms, have no call sites: klp
    says it cannot tell, once."""
    t = TESTDATA / "x86_64"
    db = tmp_path / "map.klp"
    klp("symdb", "build", "--system-map", str(t / "System.map"), "--modules", str(t / "modules"),
        "-o", str(db))
    report = json.loads(klp("convert", str(t / FIXTURE), "-o", str(tmp_path / "out.ko"),
                            "--symdb", str(db), "--symvers", str(t / "Module.symvers"),
                            "--json").stdout)
    assert len([w for w in report["warnings"] if "one ftrace call site" in w]) == 1, report
    checked = json.loads(klp("verify", str(tmp_path / "out.ko"), "--kallsyms",
                             str(t / "System.map"), "--modules", str(t / "modules"),
                             "--json").stdout)
    assert [w for w in checked["warnings"] if "one ftrace call site" in w], checked


@pytest.mark.parametrize("arch", ARCHES)
def test_a_function_only_its_compiler_copy_has_is_refused_with_the_copy(
        arch: str, dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    """The sample vmlinux has fixture_calc.constprop.0 and no fixture_calc: a patch of
    fixture_calc is refused (the kernel would not find it), naming the copy."""
    module = edited(tmp_path, arch, replace_string(b"fixture_nonexp_func", b"fixture_calc"))
    report = json.loads(klp("convert", str(module), "-o", str(tmp_path / "out.ko"), "--symdb",
                            str(dbs[arch]), "--symvers",
                            str(TESTDATA / arch / "Module.symvers"), "--json",
                            check=4).stdout)
    assert [(p["kind"], p["symbol"], p["forcible"]) for p in report["problems"]] == [
        ("function", "fixture_calc", False)]
    assert "vmlinux has fixture_calc.constprop.0: the compiler copied fixture_calc" in \
        report["problems"][0]["message"]
    assert '.old_name = "fixture_calc.constprop.0"' in report["problems"][0]["message"]


def test_a_function_with_a_compiler_copy_is_a_warning(tmp_path: pathlib.Path) -> None:
    """A kernel where fixture_nonexp_func also has an .isra copy (a kallsyms dump with one
    more line): the patch converts, and klp says the copy's callers keep the old code."""
    t = TESTDATA / "x86_64"
    dump = tmp_path / "kallsyms"
    dump.write_text((t / "System.map").read_text()
                    + "ffffffff810002a0 t fixture_nonexp_func.isra.0\n")
    out = tmp_path / "out.ko"
    klp("convert", str(t / FIXTURE), "-o", str(out), "--symvers", str(t / "Module.symvers"),
        "--symdb", str(build("x86_64", tmp_path)))
    checked = json.loads(klp("verify", str(out), "--kallsyms", str(dump), "--modules",
                             str(t / "modules"), "--json").stdout)
    copies = [w for w in checked["warnings"] if "compiler copy" in w]
    assert copies == ["vmlinux also has fixture_nonexp_func.isra.0, a compiler copy of "
                      "fixture_nonexp_func that some callers use instead: the patch replaces "
                      "fixture_nonexp_func only, so those callers keep the old code; where the "
                      "fix must reach them, replace the copy too (a klp_func of its own)"]
    assert checked["status"] == "ok"
