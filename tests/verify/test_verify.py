"""``klp verify`` on klp's own outputs (4 architectures) and on modules with every
mistake the kernel would trip over, assembled with the codec's editing API the way
another producer could have written them."""

from __future__ import annotations

import json
import pathlib
import re
import struct
from collections.abc import Callable

import pytest

from klp.elfcodec.constants import SHF, SHN
from klp.elfcodec.elffile import ElfFile
from klp.symdb import callsites
from klp.symdb.format import SymbolDB
from klp.verify.api import verify_file
from tests.support.cli import klp
from tests.support.convert import rename_symbols, replace_string, unregister
from tests.support.paths import ARCHES, TESTDATA, realdata_or_skip
from tests.support.symdb import kallsyms_dump

Edit = Callable[[ElfFile], None]


def verify(module: pathlib.Path, *args: str, check: int | None = None) -> dict[str, object]:
    proc = klp("verify", str(module), *args, "--json", check=check)
    assert proc.returncode in (0, 4), proc.stderr
    doc: dict[str, object] = json.loads(proc.stdout)
    return doc


@pytest.mark.parametrize("arch", ARCHES)
def test_klp_output_binds_as_convert_planned(arch: str, dbs: dict[str, pathlib.Path],
                                             converted: dict[str, pathlib.Path]) -> None:
    doc = verify(converted[arch], "--symdb", str(dbs[arch]), check=0)
    assert doc["status"] == "ok" and doc["problems"] == []
    planned = json.loads(klp("convert", str(TESTDATA / arch / "livepatch-fixture.ko"),
                             "--dry-run", "--json", "--symdb", str(dbs[arch]), "--symvers",
                             str(TESTDATA / arch / "Module.symvers")).stdout)["symbols"]
    symbols = doc["symbols"]
    assert isinstance(symbols, list)
    assert {s["klp_symbol"] for s in symbols} == {s["klp_symbol"] for s in planned}
    db = SymbolDB(str(dbs[arch]))
    for s in symbols:
        records = [r for r in db.lookup([s["name"]])[s["name"]] if r.obj == s["object"]]
        want = records[0] if s["position"] == 0 else records[s["position"] - 1]
        assert s["binds_to"] == want.as_dict(), s
    assert [(f["object"], f["old_name"]) for f in doc["functions"]] == [  # type: ignore[union-attr]
        ("vmlinux", "fixture_nonexp_func"), ("fixture_mod", "fixture_mod_nonexp")]


def _section(elf: ElfFile, name: str):  # type: ignore[no-untyped-def]
    sec = elf.find_section(name)
    assert sec is not None, name
    return sec


def _symbol(elf: ElfFile, name: str) -> int:
    table = elf.symtab
    return next(i for i in range(len(table)) if table.name(i) == name)


def flags(section: str, drop: int) -> Edit:
    def edit(elf: ElfFile) -> None:
        _section(elf, section).sh_flags &= ~drop
        elf.modified = True
    return edit


def target(section: str, new_target: str) -> Edit:
    def edit(elf: ElfFile) -> None:
        _section(elf, section).sh_info = _section(elf, new_target).index
        elf.modified = True
    return edit


def rename(old: str, new: str) -> Edit:
    def edit(elf: ElfFile) -> None:
        elf.rename_symbol(_symbol(elf, old), new)
    return edit


def first_relocation(section: str, *, rtype: int | None = None,
                     symbol: str | None = None) -> Edit:
    def edit(elf: ElfFile) -> None:
        rows = elf.rela(_section(elf, section)).rows
        off, info, addend = rows[0]
        sym = _symbol(elf, symbol) if symbol else info >> 32
        rows[0] = (off, sym << 32 | (info & 0xFFFFFFFF if rtype is None else rtype), addend)
        elf.modified = True
    return edit


def set_symbol(name: str, **fields: int) -> Edit:
    def edit(elf: ElfFile) -> None:
        elf.set_symbol(_symbol(elf, name), **fields)
    return edit


def modinfo(old: bytes, new: bytes) -> Edit:
    def edit(elf: ElfFile) -> None:
        sec = _section(elf, ".modinfo")
        sec.data = sec.data.replace(old, new)
    return edit


def dirty_target(section: str) -> Edit:
    """Write over the bytes a klp relocation will fill in."""
    def edit(elf: ElfFile) -> None:
        rela = _section(elf, section)
        off = elf.rela(rela).rows[0][0]
        text = elf.sections[rela.sh_info]
        text.data = text.data[:off] + b"\xff" + text.data[off + 1:]
    return edit


def plain_use(symbol: str) -> Edit:
    """A plain relocation (applied by the module loader) against a klp symbol."""
    def edit(elf: ElfFile) -> None:
        rows = elf.rela(_section(elf, ".rela.text")).rows
        off, info, addend = rows[0]
        rows[0] = (off, _symbol(elf, symbol) << 32 | (info & 0xFFFFFFFF), addend)
        elf.modified = True
    return edit


#: (id, edit of the converted x86_64 fixture, problem kind, message pattern)
MISTAKES: list[tuple[str, Edit, str, str]] = [
    ("no-RELA_LIVEPATCH", flags(".klp.rela.vmlinux..text", SHF.RELA_LIVEPATCH), "section",
     "lacks SHF_RELA_LIVEPATCH"),
    ("no-ALLOC", flags(".klp.rela.fixture_mod..text", SHF.ALLOC), "section", "lacks SHF_ALLOC"),
    ("target-not-allocated", target(".klp.rela.vmlinux..text", ".comment"), "section",
     "never relocates"),
    ("module-init-target", target(".klp.rela.fixture_mod..text", ".init.text"), "section",
     "freed after the patch loads"),
    ("module-special-section", target(".klp.rela.fixture_mod..text", "__jump_table"),
     "section", "processed when the patch loads"),
    ("bad-section-name", lambda elf: elf.rename_section(
        _section(elf, ".klp.rela.vmlinux..text"), ".klp.rela..text"), "section",
     "incorrectly formatted name"),
    ("loader-type", first_relocation(".klp.rela.vmlinux..text", rtype=9), "relocation",
     "not a type the x86_64 module loader applies"),
    ("vmlinux-symbol-from-module-section",
     first_relocation(".klp.rela.fixture_mod..text",
                      symbol=".klp.sym.vmlinux.fixture_nonexp_func,0"),
     "relocation", "invalid access to vmlinux symbol"),
    ("not-a-livepatch-symbol", set_symbol(".klp.sym.vmlinux.fixture_helper,1",
                                          st_shndx=SHN.UNDEF), "relocation",
     "not SHN_LIVEPATCH"),
    ("nonzero-target", dirty_target(".klp.rela.vmlinux..text"), "relocation",
     "are not zero"),
    ("plain-relocation", plain_use(".klp.sym.vmlinux.fixture_helper,1"), "relocation",
     "plain relocation against a klp symbol"),
    ("no-comma", rename(".klp.sym.vmlinux.fixture_state,2", ".klp.sym.vmlinux.fixture_state"),
     "symbol", "incorrectly formatted name"),
    ("long-object", rename(".klp.sym.vmlinux.fixture_state,2",
                           f".klp.sym.{'o' * 56}.fixture_state,2"), "symbol",
     "incorrectly formatted name"),
    ("position-past-the-end", rename(".klp.sym.vmlinux.fixture_state,2",
                                     ".klp.sym.vmlinux.fixture_state,3"), "binding",
     "position 3 of 2"),
    ("not-unique", rename(".klp.sym.vmlinux.fixture_state,2",
                          ".klp.sym.vmlinux.fixture_state,0"), "binding", "not unique"),
    ("not-found", rename(".klp.sym.vmlinux.fixture_state,2", ".klp.sym.vmlinux.no_such,0"),
     "binding", "not found"),
    ("unknown-object", rename(".klp.sym.fixture_mod.mod_value,2",
                              ".klp.sym.nosuchmod.mod_value,2"), "binding",
     "no object nosuchmod"),
    ("late-init-symbol", rename(".klp.sym.fixture_mod.mod_value,2",
                                ".klp.sym.fixture_mod.mod_probe,1"), "binding",
     "loading after the patch: position 1 is a symbol the module keeps only while it loads"),
    ("late-not-unique", rename(".klp.sym.fixture_mod.mod_value,2",
                               ".klp.sym.fixture_mod.mod_probe,0"), "binding",
     "loading after the patch: not unique"),
    ("unregistered-object", unregister(b"fixture_mod"), "registration",
     "registers no klp_object for fixture_mod"),
    ("registered-name-with-dash", replace_string(b"fixture_mod", b"fixture-mod"),
     "registration", 'write .name = "fixture_mod"'),
    ("func-not-found", replace_string(b"fixture_nonexp_func", b"fixture_nonexp_fund"),
     "function", "klp_func fixture_nonexp_fund .*not found"),
    ("no-livepatch-y", modinfo(b"livepatch=Y\0", b"livepatch=N\0"), "module",
     "no livepatch=Y"),
    ("other-vermagic", modinfo(b"6.1.0-klp-fixture", b"6.1.0-klp-elsewhe"), "module",
     "is not the target kernel's"),
]


@pytest.mark.parametrize(("edit", "kind", "message"), [m[1:] for m in MISTAKES],
                         ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_reported(edit: Edit, kind: str, message: str,
                                  dbs: dict[str, pathlib.Path],
                                  converted: dict[str, pathlib.Path],
                                  tmp_path: pathlib.Path) -> None:
    elf = ElfFile.open(converted["x86_64"])
    edit(elf)
    module = tmp_path / "mistake.ko"
    elf.write(module)
    doc = verify(module, "--symdb", str(dbs["x86_64"]), check=4)
    found = [(p["kind"], p["message"]) for p in doc["problems"]]  # type: ignore[union-attr]
    assert any(k == kind and re.search(message, m) for k, m in found), found


def _ppc64_call(elf: ElfFile) -> tuple[int, int]:
    """(offset, row) of the first converted bl of the ppc64le module's .text."""
    rela = _section(elf, ".klp.rela.vmlinux..text")
    for row, (off, info, _) in enumerate(elf.rela(rela).rows):
        if info & 0xFFFFFFFF == 10:  # R_PPC64_REL24
            return off, row
    raise AssertionError("no REL24")


def test_ppc64_call_without_nop(dbs: dict[str, pathlib.Path],
                                converted: dict[str, pathlib.Path],
                                tmp_path: pathlib.Path) -> None:
    elf = ElfFile.open(converted["ppc64le"])
    off, _ = _ppc64_call(elf)
    text = _section(elf, ".text")
    text.data = text.data[:off + 4] + struct.pack("<I", 0x38600000) + text.data[off + 8:]
    elf.write(tmp_path / "p.ko")
    doc = verify(tmp_path / "p.ko", "--symdb", str(dbs["ppc64le"]), check=4)
    assert any("not a nop" in p["message"] for p in doc["problems"])  # type: ignore[union-attr]


def test_ppc64_toc16_against_a_klp_symbol(dbs: dict[str, pathlib.Path],
                                          converted: dict[str, pathlib.Path],
                                          tmp_path: pathlib.Path) -> None:
    elf = ElfFile.open(converted["ppc64le"])
    _, row = _ppc64_call(elf)
    rows = elf.rela(_section(elf, ".klp.rela.vmlinux..text")).rows
    off, info, addend = rows[row]
    rows[row] = (off, (info >> 32) << 32 | 50, addend)  # R_PPC64_TOC16_HA
    elf.modified = True
    elf.write(tmp_path / "t.ko")
    doc = verify(tmp_path / "t.ko", "--symdb", str(dbs["ppc64le"]), check=4)
    assert any("own TOC" in p["message"] for p in doc["problems"])  # type: ignore[union-attr]


def test_symbol_names_longer_than_an_old_kernel_reads(dbs: dict[str, pathlib.Path],
                                                      converted: dict[str, pathlib.Path],
                                                      tmp_path: pathlib.Path) -> None:
    """KSYM_NAME_LEN was 128 before 6.1: a 200-byte name is refused there, read after."""
    name = ".klp.sym.vmlinux." + "n" * 200 + ",0"
    for release, kind in ((b"6.1.0-klp-fixture", "binding"), (b"5.15.0-klp-fixtu", "symbol")):
        elf = ElfFile.open(converted["x86_64"])
        rename(".klp.sym.vmlinux.fixture_state,2", name)(elf)
        modinfo(b"6.1.0-klp-fixture", release)(elf)
        elf.write(tmp_path / "long.ko")
        doc = verify(tmp_path / "long.ko", "--symdb", str(dbs["x86_64"]), check=4)
        kinds = {p["kind"] for p in doc["problems"]}  # type: ignore[union-attr]
        assert kind in kinds, doc["problems"]


def test_against_a_running_kernel(dbs: dict[str, pathlib.Path],
                                  converted: dict[str, pathlib.Path],
                                  tmp_path: pathlib.Path) -> None:
    """vmlinux binds at the same addresses as with the symdb; a loaded module at its
    running addresses; a module that is not loaded through its .ko file."""
    by_db = verify(converted["x86_64"], "--symdb", str(dbs["x86_64"]), check=0)
    dump = kallsyms_dump(dbs["x86_64"], tmp_path / "kallsyms")
    running = verify(converted["x86_64"], "--kallsyms", str(dump), check=0)
    db_symbols = {s["klp_symbol"]: s for s in by_db["symbols"]}  # type: ignore[union-attr]
    for s in running["symbols"]:  # type: ignore[union-attr]
        expected = db_symbols[s["klp_symbol"]]["binds_to"]
        if s["object"] == "vmlinux":
            assert s["binds_to"]["address"] == expected["address"], s
        else:
            assert s["binds_to"]["value"] >= 0xFFFFFFFFA0000000, s
    absent = kallsyms_dump(dbs["x86_64"], tmp_path / "vmlinux-only", loaded=False)
    unchecked = verify(converted["x86_64"], "--kallsyms", str(absent), check=4)
    assert any("no object fixture_mod" in p["message"]
               for p in unchecked["problems"])  # type: ignore[union-attr]
    [registered] = [p["message"] for p in unchecked["problems"]  # type: ignore[union-attr]
                    if p["kind"] == "registration"]
    assert registered.startswith('klp_object "fixture_mod": no module of that name is loaded '
                                 "on the target nor given with --modules"), registered
    with_files = verify(converted["x86_64"], "--kallsyms", str(absent), "--modules",
                        str(TESTDATA / "x86_64" / "modules"), check=0)
    for s in with_files["symbols"]:  # type: ignore[union-attr]
        expected = db_symbols[s["klp_symbol"]]["binds_to"]
        if s["object"] == "vmlinux":  # the dump has no sizes, types or files
            assert s["binds_to"]["address"] == expected["address"], s
        else:
            assert s["binds_to"] == expected, s


def test_hidden_addresses_are_said(dbs: dict[str, pathlib.Path],
                                   converted: dict[str, pathlib.Path],
                                   tmp_path: pathlib.Path) -> None:
    dump = kallsyms_dump(dbs["x86_64"], tmp_path / "kallsyms", hidden=True)
    doc = verify(converted["x86_64"], "--kallsyms", str(dump), check=0)
    assert any("dumped without root" in w for w in doc["warnings"])  # type: ignore[union-attr]


@pytest.mark.parametrize("loaded", [True, False], ids=["loaded", "not-loaded"])
def test_module_call_sites_come_from_its_file(
        dbs: dict[str, pathlib.Path], converted: dict[str, pathlib.Path],
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, loaded: bool) -> None:
    """With --modules, a patched module function whose range (as its .ko lays it out,
    wherever the module runs) holds two ftrace call sites is refused as with a symdb;
    only vmlinux, whose call sites /proc/kallsyms does not show, is left unchecked."""
    record = next(r for r in SymbolDB(str(dbs["x86_64"]))
                  if r.obj == "fixture_mod" and r.name == "fixture_mod_nonexp")
    monkeypatch.setattr(callsites, "module_shared", lambda *_: {record.address: (4, 0x90)})
    dump = kallsyms_dump(dbs["x86_64"], tmp_path / "kallsyms", loaded=loaded)
    verdict, _ = verify_file(converted["x86_64"], kallsyms=dump,
                             modules=TESTDATA / "x86_64" / "modules")
    assert [(p.kind, p.symbol, p.forcible) for p in verdict.problems] == [
        ("function", "fixture_mod_nonexp", True)]
    assert "range holds 2 ftrace call sites (+0x4, +0x90)" in verdict.problems[0].message
    unknown = [w for w in verdict.warnings if "one ftrace call site" in w]
    assert len(unknown) == 1 and "of vmlinux" in unknown[0], verdict.warnings


def test_an_unconverted_module_is_refused(dbs: dict[str, pathlib.Path],
                                          converted: dict[str, pathlib.Path],
                                          tmp_path: pathlib.Path) -> None:
    """The module loader resolves an undefined symbol only from the target's exports:
    a module before klp convert (or one that names a symbol the target lacks) does not
    load at all."""
    doc = verify(TESTDATA / "x86_64" / "livepatch-fixture.ko", "--symdb", str(dbs["x86_64"]),
                 check=4)
    [problem] = doc["problems"]  # type: ignore[misc]
    assert problem["message"] == (
        "the module's undefined symbols include 10 that the target defines but does not "
        "export: fixture_calc.constprop.0, fixture_cold_path, fixture_helper, fixture_key, "
        "fixture_max_threads, fixture_mod_nonexp, fixture_nonexp_func, fixture_rm_value and "
        "2 more; the module loader refuses the module (\"Unknown symbol "
        "fixture_calc.constprop.0\"); klp convert makes klp symbols of them")
    elf = ElfFile.open(converted["x86_64"])
    rename_symbols({"klp_enable_patch": "klp_enable_patch_v2"})(elf)
    module = tmp_path / "renamed.ko"
    elf.write(module)
    [problem] = verify(module, "--symdb", str(dbs["x86_64"]), check=4)["problems"]  # type: ignore[misc]
    assert problem["message"].startswith(
        "the module's undefined symbols include 1 that the target does not have: "
        "klp_enable_patch_v2; the module loader refuses")
    # a database of vmlinux alone cannot say whether a module exports it
    vmlinux_only = tmp_path / "vmlinux.klp"
    klp("symdb", "build", "--vmlinux", str(TESTDATA / "x86_64" / "vmlinux"), "-o",
        str(vmlinux_only))
    doc = verify(module, "--symdb", str(vmlinux_only), check=4)  # fixture_mod is missing
    assert "cannot tell whether a module of the target exports klp_enable_patch_v2: the " \
           "symbol database has vmlinux only (build it with --modules)" in doc["warnings"]
    # /proc/kallsyms does not say what is exported: not checked
    assert not [p for p in verify(module, "--kallsyms", str(kallsyms_dump(
        dbs["x86_64"], tmp_path / "kallsyms")), check=None)["problems"]  # type: ignore[union-attr]
        if "undefined symbols" in p["message"]]


def test_usage_and_bad_input(converted: dict[str, pathlib.Path],
                             tmp_path: pathlib.Path) -> None:
    klp("verify", str(converted["x86_64"]), check=2)
    junk = tmp_path / "kallsyms"
    junk.write_text("not kallsyms\n")
    proc = klp("verify", str(converted["x86_64"]), "--kallsyms", str(junk), check=3)
    assert "not a /proc/kallsyms line" in proc.stderr and "Traceback" not in proc.stderr
    junk.write_bytes(b"ffffffff81000000 \xff fixture_state\n")  # found by the texts fuzzer
    proc = klp("verify", str(converted["x86_64"]), "--kallsyms", str(junk), check=3)
    assert f"{junk}:1: not a /proc/kallsyms line" in proc.stderr


def test_convert_refuses_what_verify_rejects(dbs: dict[str, pathlib.Path],
                                             tmp_path: pathlib.Path) -> None:
    """convert's own result goes through verify before it is written: a klp_func that
    names a function the target does not have stops the conversion."""
    elf = ElfFile.open(TESTDATA / "x86_64" / "livepatch-fixture.ko")
    replace_string(b"fixture_nonexp_func", b"fixture_nonexp_fund")(elf)
    module = tmp_path / "in.ko"
    elf.write(module)
    out = tmp_path / "out.ko"
    args = ("convert", str(module), "-o", str(out), "--symdb", str(dbs["x86_64"]),
            "--symvers", str(TESTDATA / "x86_64" / "Module.symvers"), "--json")
    report = json.loads(klp(*args, check=4).stdout)
    assert [p["kind"] for p in report["problems"]] == ["function"] and not out.exists()
    klp(*args, "--no-verify", check=0)
    assert out.exists()


@pytest.fixture(scope="module")
def debian_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict[str, str]]:
    """A database of Debian 6.1's cloud-amd64 vmlinux (from its -dbg image, which has
    the DWARF) and binfmt_misc (whose debug copy the set has), and the set."""
    env = realdata_or_skip("cloud-amd64")
    db = tmp_path_factory.mktemp("debian") / "vmlinux.klp"
    klp("symdb", "build", "--vmlinux", env["VMLINUX"],
        str(pathlib.Path(env["MODULES_DIR"]) / BINFMT_MISC), "-o", str(db), check=0)
    return db, env


BINFMT_MISC = "kernel/fs/binfmt_misc.ko"


@pytest.mark.realdata
def test_debuginfo_says_where_a_patched_function_is_inlined(
        debian_db: tuple[pathlib.Path, dict[str, str]], converted: dict[str, pathlib.Path],
        tmp_path: pathlib.Path) -> None:
    """Debian's init_cfs_rq() is a global function that alloc_fair_sched_group()
    inlines (both in kernel/sched/fair.c); binfmt_misc's bm_status_read() is reached
    through a pointer only. The patch's klp_funcs and its module object are renamed to
    them (what else it names does not bind here: not what this test is about)."""
    db, env = debian_db
    elf = ElfFile.open(converted["x86_64"])
    replace_string(b"fixture_nonexp_func", b"init_cfs_rq")(elf)
    replace_string(b"fixture_mod_nonexp", b"bm_status_read")(elf)
    replace_string(b"fixture_mod", b"binfmt_misc")(elf)
    module = tmp_path / "inlined.ko"
    elf.write(module)
    debug_module = str(pathlib.Path(env["DEBUG_MODULES_DIR"]) / BINFMT_MISC)
    doc = verify(module, "--symdb", str(db), "--debuginfo", env["VMLINUX"],
                 "--debuginfo", debug_module)
    functions = {f["old_name"]: f for f in doc["functions"]}  # type: ignore[union-attr]
    assert functions["init_cfs_rq"]["inlined_into"] == {"alloc_fair_sched_group": 1}
    assert functions["bm_status_read"]["inlined_into"] == {}
    warnings = [w for w in doc["warnings"] if "inlined" in w]  # type: ignore[union-attr]
    assert len(warnings) == 1 and "into alloc_fair_sched_group: the patch replaces " \
        "init_cfs_rq only" in warnings[0], warnings
    # without --debuginfo nothing is said, and nothing is read
    doc = verify(module, "--symdb", str(db))
    assert [f["inlined_into"] for f in doc["functions"]] == [None, None]  # type: ignore[union-attr]
    # a module the database does not have
    proc = klp("verify", str(module), "--symdb", str(db), "--debuginfo",
               str(TESTDATA / "x86_64" / "modules" / "fixture-mod.ko"), check=3)
    assert "debug info of fixture_mod, which the database does not have" in proc.stderr


@pytest.mark.realdata
def test_debuginfo_of_another_build_is_refused(
        debian_db: tuple[pathlib.Path, dict[str, str]], dbs: dict[str, pathlib.Path],
        converted: dict[str, pathlib.Path]) -> None:
    vmlinux = debian_db[1]["VMLINUX"]
    proc = klp("verify", str(converted["x86_64"]), "--symdb", str(dbs["x86_64"]),
               "--debuginfo", vmlinux, check=3)
    assert "is another build of vmlinux than the database's" in proc.stderr
    proc = klp("verify", str(converted["x86_64"]), "--kallsyms", vmlinux,
               "--debuginfo", vmlinux, check=2)
    assert "--debuginfo goes with --symdb" in proc.stderr
    proc = klp("convert", str(converted["x86_64"]), "--dry-run", "--symdb",
               str(dbs["x86_64"]), "--debuginfo", vmlinux, check=2)
    assert "--debuginfo goes with --symdb, and is read by the check" in proc.stderr


@pytest.mark.realdata
def test_debuginfo_without_a_build_id_to_match(converted: dict[str, pathlib.Path],
                                              tmp_path: pathlib.Path) -> None:
    """A database of System.map has no build ID: the debug info is read, and verify
    says it could not check that it is the same build."""
    env = realdata_or_skip("cloud-amd64")
    db = tmp_path / "map.klp"
    klp("symdb", "build", "--system-map", env["SYSTEM_MAP"], "-o", str(db))
    doc = verify(converted["x86_64"], "--symdb", str(db), "--debuginfo", env["VMLINUX"])
    assert any("has no build ID of vmlinux (System.map): cannot tell whether" in w
               for w in doc["warnings"]), doc["warnings"]  # type: ignore[union-attr]
