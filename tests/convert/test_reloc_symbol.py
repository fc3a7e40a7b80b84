"""KLP_RELOC_SYMBOL: the "minimal" klp-convert proposal's annotation, which names the
object and position in the symbol itself (``.klp.sym.rela.<gate>.<obj>.<sym>.<pos>``).

The bundled ``livepatch-ambiguous.ko`` uses two ambiguous names without an
annotation; each case renames their undefined symbols the way the annotation's asm
label does, converts the module as a user does, and reads the result back with
binutils readelf. klp-reloc.h's macros are compiled with each cross gcc.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from klp.convert.annotations import read_reloc_symbol
from klp.elfcodec.elffile import ElfFile
from klp.livepatch.rules import klp_section_object
from tests.support.cli import klp
from tests.support.convert import RELOC_SYMBOLS, edited, rename_symbols
from tests.support.cross import compiled
from tests.support.paths import ARCHES, TESTDATA
from tests.support.readelf import readelf

AMBIGUOUS = "livepatch-ambiguous.ko"
INCLUDE = pathlib.Path(__file__).resolve().parents[2] / "klp" / "include"
CHOSEN = RELOC_SYMBOLS


def run(arch: str, db: pathlib.Path, module: pathlib.Path, out: pathlib.Path, *extra: str,
        check: int | None = 0) -> dict[str, Any]:
    t = TESTDATA / arch
    proc = klp("convert", str(module), "-o", str(out), "--symdb", str(db), "--symvers",
               str(t / "Module.symvers"), "--json", *extra, check=check)
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


@pytest.mark.parametrize(("symbol", "parts"), [
    (".klp.sym.rela.vmlinux.vmlinux.saved_command_line,0",
     ("vmlinux", "vmlinux", "saved_command_line", 0)),
    (".klp.sym.rela.nfsd.sunrpc.svc_xprt_free.12", ("nfsd", "sunrpc", "svc_xprt_free", 12)),
    # the position follows the last separator: a dotted name reads whole
    (".klp.sym.rela.vmlinux.vmlinux.foo.isra.0,3", ("vmlinux", "vmlinux", "foo.isra.0", 3)),
    (".klp.sym.rela.vmlinux.vmlinux.foo.isra.0.3", ("vmlinux", "vmlinux", "foo.isra.0", 3)),
])
def test_names_are_read(symbol: str, parts: tuple[str, str, str, int]) -> None:
    note = read_reloc_symbol(symbol)
    assert not isinstance(note, str)
    assert (note.gate, note.obj, note.name, note.pos) == parts


@pytest.mark.parametrize("symbol", [
    ".klp.sym.rela.", ".klp.sym.rela.vmlinux.count", ".klp.sym.rela.vmlinux.vmlinux.count",
    ".klp.sym.rela.vmlinux.vmlinux.count,x", ".klp.sym.rela..vmlinux.count,1",
    ".klp.sym.rela.vmlinux.vmlinux.count,1 ",
])
def test_malformed_names_are_said(symbol: str) -> None:
    why = read_reloc_symbol(symbol)
    assert isinstance(why, str) and why.startswith(f"{symbol} is not a KLP_RELOC_SYMBOL name")


@pytest.mark.parametrize("arch", ARCHES)
def test_converted_to_the_named_copies(arch: str, dbs: dict[str, pathlib.Path],
                                       tmp_path: pathlib.Path) -> None:
    module = edited(tmp_path, arch, rename_symbols(CHOSEN), AMBIGUOUS)
    out = tmp_path / "out.ko"
    report = run(arch, dbs[arch], module, out)
    chosen = {s["symbol"]: (s["klp_symbol"], s["reason"])
              for s in report["symbols"]}
    assert chosen == {"fixture_count": (".klp.sym.vmlinux.fixture_count,2", "annotation"),
                      "mod_value": (".klp.sym.fixture_mod.mod_value,2", "annotation"),
                      "fixture_nonexp_func": (".klp.sym.vmlinux.fixture_nonexp_func,0", "unique")}
    # the independent reader: every klp symbol SHN_LIVEPATCH, in its own object's section
    r = readelf(str(out))
    livepatch = {str(s[-1]) for s in r.symbols if s[-2] == "OS [0xff20]"}
    assert livepatch == {c for c, _ in chosen.values()}
    assert not any(str(s[-1]).startswith(".klp.sym.rela.") for s in r.symbols)
    used = {(section.split(".")[3], str(rel[3])) for section, rows in r.relocs.items()
            if section.startswith(".klp.rela.") for rel in rows}
    assert used == {(c.split(".")[3], c) for c in livepatch}  # .klp.rela.<obj>, .klp.sym.<obj>
    klp("verify", str(out), "--symdb", str(dbs[arch]))


@pytest.mark.parametrize("arch", ARCHES)
def test_a_wrong_position_is_refused_with_the_lines_that_fix_it(
        arch: str, dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    wrong = dict(CHOSEN, fixture_count=".klp.sym.rela.vmlinux.vmlinux.fixture_count.4")
    out = tmp_path / "out.ko"
    report = run(arch, dbs[arch], edited(tmp_path, arch, rename_symbols(wrong), AMBIGUOUS),
                 out, check=4)
    [problem] = report["problems"]
    assert problem["kind"] == "annotation"
    assert problem["message"] == ("KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, fixture_count, 4) in "
                                  "vmlinux: position 4 of 3: there are only 3 symbols of that "
                                  "name")
    assert problem["suggestions"] == [f"KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, fixture_count, {n})"
                                      for n in (1, 2, 3)]
    assert [c["file"] for c in problem["candidates"]] == ["head.c", "core.c", "util.c"]
    assert not out.exists()


@pytest.mark.parametrize("arch", ARCHES)
def test_a_vmlinux_symbol_gated_by_a_module_goes_to_vmlinux(
        arch: str, dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    """The kernel refuses a vmlinux symbol in a module's klp section; vmlinux's is
    applied first, so klp puts it there and says so."""
    gated = dict(CHOSEN, fixture_count=".klp.sym.rela.fixture_mod.vmlinux.fixture_count.2")
    out = tmp_path / "out.ko"
    report = run(arch, dbs[arch], edited(tmp_path, arch, rename_symbols(gated), AMBIGUOUS), out)
    assert any(w.startswith("KLP_RELOC_SYMBOL_POS(fixture_mod, vmlinux, fixture_count, 2): the "
                            "kernel refuses a vmlinux symbol in module fixture_mod's klp section")
               for w in report["warnings"])
    objects = {s["object"] for s in report["sections"]}
    assert objects == {"vmlinux", "fixture_mod"}
    assert readelf(str(out)).relocs.keys() >= {".klp.rela.vmlinux..text"}
    assert {str(rel[3]) for section, rows in readelf(str(out)).relocs.items()
            if section.startswith(".klp.rela.vmlinux.") for rel in rows} == {
        ".klp.sym.vmlinux.fixture_count,2", ".klp.sym.vmlinux.fixture_nonexp_func,0"}
    klp("verify", str(out), "--symdb", str(dbs[arch]))


@pytest.mark.parametrize("arch", ARCHES)
def test_a_module_symbol_gated_by_vmlinux_needs_force(
        arch: str, dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    """vmlinux's klp section is applied when the patch loads, whether or not the module
    is there: the user may know it always is."""
    gated = dict(CHOSEN, mod_value=".klp.sym.rela.vmlinux.fixture_mod.mod_value.2")
    module = edited(tmp_path, arch, rename_symbols(gated), AMBIGUOUS)
    out = tmp_path / "out.ko"
    why, refused = klp_section_object("vmlinux", ".klp.sym.fixture_mod.mod_value,2",
                                      "fixture_mod") or ("", False)
    assert refused
    report = run(arch, dbs[arch], module, out, check=4)
    assert [(p["kind"], p["message"], p["forcible"])
            for p in report["problems"]] == [("rule", why, True)]
    assert not out.exists()
    report = run(arch, dbs[arch], module, out, "--force")
    assert report["warnings"].count(f"--force: {why}") == 1
    assert {s["object"] for s in report["sections"]} == {"vmlinux"}
    # verify says the same of the finished module
    proc = klp("verify", str(out), "--symdb", str(dbs[arch]), "--json", check=4)
    assert [(p["kind"], p["message"]) for p in json.loads(proc.stdout)["problems"]] == [
        ("symbol", why)]


def test_a_module_symbol_gated_by_another_module_is_a_warning() -> None:
    """Applied when the gating module loads: the kernel binds it then, so the other
    module must be loaded (it is when the first depends on it)."""
    found = klp_section_object("nfsd", ".klp.sym.sunrpc.svc_xprt_free,0", "sunrpc")
    assert found is not None and not found[1]
    assert "module sunrpc must be loaded by then, or nfsd fails to load" in found[0]
    assert klp_section_object("nfsd", ".klp.sym.nfsd.x,0", "nfsd") is None


@pytest.mark.parametrize("gate", ["fixture-mod", "vmlinux-x"])
def test_an_object_the_database_lacks_is_refused(gate: str, dbs: dict[str, pathlib.Path],
                                                 tmp_path: pathlib.Path) -> None:
    """A gate that names no object of the kernel (a dash where the kernel has '_'):
    its klp section would never be applied."""
    named = dict(CHOSEN, mod_value=f".klp.sym.rela.{gate}.fixture_mod.mod_value.2")
    out = tmp_path / "out.ko"
    report = run("x86_64", dbs["x86_64"],
                 edited(tmp_path, "x86_64", rename_symbols(named), AMBIGUOUS), out, check=4)
    assert [p["message"] for p in report["problems"]] == [
        f"KLP_RELOC_SYMBOL_POS({gate}, fixture_mod, mod_value, 2) names object {gate}, which "
        "the symbol database does not have: check the object name (a module's kernel name, "
        "'_' for '-'), or rebuild the database with that module"]
    assert not out.exists()


@pytest.mark.parametrize("arch", ARCHES)
def test_malformed_annotations_are_refused(arch: str, dbs: dict[str, pathlib.Path],
                                           tmp_path: pathlib.Path) -> None:
    broken = dict(CHOSEN, mod_value=".klp.sym.rela.[bold]fixture_mod.mod_value,two")
    out = tmp_path / "out.ko"
    report = run(arch, dbs[arch], edited(tmp_path, arch, rename_symbols(broken), AMBIGUOUS),
                 out, check=4)
    assert [(p["kind"], p["symbol"]) for p in report["problems"]] == [
        ("annotation", ".klp.sym.rela.[bold]fixture_mod.mod_value,two")]
    assert not out.exists()
    # and the terminal shows the name as it is, not as markup
    proc = klp("convert", str(tmp_path / f"edited-{arch}.ko"), "-o", str(out), "--symdb",
               str(dbs[arch]), check=4)
    assert ".klp.sym.rela.[bold]fixture_mod.mod_value,two is not a KLP_RELOC_SYMBOL" in \
        " ".join(proc.stderr.split())


@pytest.mark.parametrize("arch", ARCHES)
def test_the_header_macros_compile_to_names_klp_reads(arch: str, tmp_path: pathlib.Path) -> None:
    """klp-reloc.h's KLP_RELOC_SYMBOL(_POS) with each cross gcc: the assembler takes the
    quoted name in a call and in a data reference, and klp reads back what was written."""
    source = ("#include <klp-reloc.h>\n"
              "extern int count KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, count, 2);\n"
              "extern int helper(int) KLP_RELOC_SYMBOL(my_driver, my_driver, helper);\n"
              "int use(int x) { return helper(x) + count; }\n")
    obj = compiled(arch, [f"-I{INCLUDE}"], tmp_path, "use.c", source)
    table = ElfFile.open(obj).symtab
    names = sorted(n for n in table.names() if n.startswith(".klp.sym.rela."))
    assert names == [".klp.sym.rela.my_driver.my_driver.helper.0",
                     ".klp.sym.rela.vmlinux.vmlinux.count.2"]
    read = [read_reloc_symbol(n) for n in names]
    assert [(n.gate, n.obj, n.name, n.pos) for n in read if not isinstance(n, str)] == [
        ("my_driver", "my_driver", "helper", 0), ("vmlinux", "vmlinux", "count", 2)]
