"""klp convert on the bundled livepatch modules, checked with readelf and ld."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest

from klp.elfcodec.constants import SHF, SHN, SHT
from klp.elfcodec.elffile import ElfFile
from tests.support.cli import klp
from tests.support.convert import convert
from tests.support.paths import ARCHES, LINKERS, TESTDATA
from tests.support.readelf import readelf


@pytest.mark.parametrize("arch", ARCHES)
def test_converted_module_follows_the_kernel_rules(
    arch: str, dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "lp.ko"
    report = json.loads(convert(arch, dbs[arch], "livepatch-fixture.ko", out, "--json").stdout)
    assert report["status"] == "converted" and report["problems"] == []
    oracle = readelf(str(out))
    assert oracle.warnings == []
    elf = ElfFile.open(out)
    symtab = elf.symtab_section.index
    klp_secs = [s for s in elf.sections if s.sh_flags & SHF.RELA_LIVEPATCH]
    assert klp_secs
    for sec in klp_secs:
        assert sec.sh_type == SHT.RELA and sec.sh_link == symtab and sec.sh_entsize == 24
        assert sec.sh_flags == SHF.ALLOC | SHF.INFO_LINK | SHF.RELA_LIVEPATCH
        target = elf.sections[sec.sh_info]
        obj = sec.name.split(".")[3]
        assert sec.name == f".klp.rela.{obj}.{target.name}"
        assert target.sh_flags & SHF.ALLOC
        for rel in elf.rela(sec):
            sym = elf.symtab.symbol(rel.sym)
            assert sym.shndx == SHN.LIVEPATCH and sym.value == 0
            assert sym.name.startswith(f".klp.sym.{obj}.")  # no vmlinux symbol from a module
    # nothing unexported is left for the module loader, annotations are gone
    exported = {line.split("\t")[1] for line in
                (TESTDATA / arch / "Module.symvers").read_text().splitlines()}
    leftover = {s.name for s in elf.symtab if s.shndx == SHN.UNDEF and s.name}
    assert leftover <= exported | {"__fentry__", "_mcount", ".TOC.", "__x86_return_thunk"}
    assert not any(s.name.startswith(".klp.module_relocs") for s in elf.sections)
    positions = {r["symbol"]: (r["object"], r["position"]) for r in report["symbols"]}
    assert positions["fixture_state"] == ("vmlinux", 2)
    assert positions["mod_value"] == ("fixture_mod", 2)
    assert positions["fixture_log"] == ("fixture_mod", 0)  # annotation beats the vmlinux export
    linker = LINKERS[arch]
    if shutil.which(linker):
        subprocess.run([linker, "-r", str(out), "-o", str(tmp_path / "l.o")], check=True)


@pytest.mark.parametrize("arch", ARCHES)
def test_ambiguous_symbol_diagnostic(arch: str, dbs: dict[str, pathlib.Path],
                                     tmp_path: pathlib.Path) -> None:
    out = tmp_path / "amb.ko"
    proc = convert(arch, dbs[arch], "livepatch-ambiguous.ko", out, "--json", check=4)
    assert not out.exists()
    problems = {p["symbol"]: p for p in json.loads(proc.stdout)["problems"]}
    amb = problems["fixture_count"]
    assert amb["kind"] == "ambiguous"
    assert [c["pos"] for c in amb["candidates"]] == [1, 2, 3]
    assert all(c["obj"] == "vmlinux" and c["file"] for c in amb["candidates"])
    assert "KLP_SYMPOS(fixture_count, 2)" in amb["suggestions"][1]
    assert amb["references"]
    text = convert(arch, dbs[arch], "livepatch-ambiguous.ko", out, check=4).stderr
    assert "KLP_MODULE_RELOC(vmlinux)" in text and "fixture_count" in text


def test_rerun_is_idempotent(dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    first, second = tmp_path / "1.ko", tmp_path / "2.ko"
    convert("x86_64", dbs["x86_64"], "livepatch-fixture.ko", first)
    again = klp("convert", str(first), "-o", str(second), "--symdb", str(dbs["x86_64"]))
    assert "already converted" in again.stdout
    assert first.read_bytes() == second.read_bytes()
    third = tmp_path / "3.ko"
    convert("x86_64", dbs["x86_64"], "livepatch-fixture.ko", third)
    assert third.read_bytes() == first.read_bytes()  # deterministic


def test_dry_run_writes_nothing(dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    out = tmp_path / "x.ko"
    proc = convert("x86_64", dbs["x86_64"], "livepatch-fixture.ko", out, "--dry-run", "--json")
    assert json.loads(proc.stdout)["status"] == "dry-run"
    assert not out.exists()


def test_in_place_keeps_a_good_file_on_failure(dbs: dict[str, pathlib.Path],
                                               tmp_path: pathlib.Path) -> None:
    copy = tmp_path / "amb.ko"
    shutil.copy(TESTDATA / "x86_64" / "livepatch-ambiguous.ko", copy)
    before = copy.read_bytes()
    klp("convert", str(copy), "--in-place", "--symdb", str(dbs["x86_64"]), check=4)
    assert copy.read_bytes() == before


def test_bad_inputs_exit_cleanly(tmp_path: pathlib.Path) -> None:
    junk = tmp_path / "junk.ko"
    junk.write_bytes(b"not elf")
    proc = klp("convert", str(junk), "-o", str(tmp_path / "o.ko"), check=3)
    assert proc.stderr.startswith("klp: error:") and "Traceback" not in proc.stderr
    proc = klp("convert", str(TESTDATA / "x86_64" / "livepatch-fixture.ko"), check=2)
    assert "exactly one of" in proc.stderr  # a usage error: exit 2, as documented


def test_debug_info_pointing_at_annotations(dbs: dict[str, pathlib.Path],
                                            tmp_path: pathlib.Path) -> None:
    """Modules built with -g have debug relocations against the annotation arrays."""
    src = ElfFile.open(TESTDATA / "x86_64" / "livepatch-fixture.ko")
    table = src.symtab
    anno = src.find_section(".klp.module_relocs.vmlinux")
    assert anno is not None
    section_sym = next(i for i in range(1, len(table))
                       if table.shndx(i) == anno.index and table.rows[i][1] & 0xF == 3)
    debug = src.add_section(".debug_klp", SHT.PROGBITS, data=bytes(16))
    rela = src.add_rela_section(".rela.debug_klp", debug)
    src.rela(rela).rows.append((0, (section_sym << 32) | 1, 0))
    with_debug = tmp_path / "g.ko"
    src.write(with_debug)
    out = tmp_path / "out.ko"
    klp("convert", str(with_debug), "-o", str(out), "--symdb", str(dbs["x86_64"]),
        "--symvers", str(TESTDATA / "x86_64" / "Module.symvers"))
    assert readelf(str(out)).warnings == []
    converted = ElfFile.open(out)
    assert converted.find_section(".klp.module_relocs.vmlinux") is None
    debug_rela = converted.find_section(".rela.debug_klp")
    assert debug_rela is None or not converted.rela(debug_rela).rows


def test_stale_symdb_is_refused(dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    """A symdb of another kernel (here: another architecture) is refused with exit 5."""
    out = tmp_path / "x.ko"
    t = TESTDATA / "x86_64"
    proc = klp("convert", str(t / "livepatch-fixture.ko"), "-o", str(out), "--symdb",
               str(dbs["arm64"]), check=5)
    assert "rebuild it, or pass --force" in proc.stderr and not out.exists()
    proc = klp("convert", str(t / "livepatch-fixture.ko"), "-o", str(out), "--symdb",
               str(dbs["arm64"]), "--force", "--json", check=None)
    assert proc.returncode in (0, 4)
    assert any("--force" in w for w in json.loads(proc.stdout)["warnings"])


def test_other_vermagic_is_refused(dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    src = ElfFile.open(TESTDATA / "x86_64" / "livepatch-fixture.ko")
    modinfo = src.find_section(".modinfo")
    assert modinfo is not None
    src.rename_section(modinfo, ".modinfo")  # keep the name; change the contents
    modinfo.data = modinfo.data.replace(b"6.1.0-klp-fixture", b"6.1.0-klp-elsewhere")
    other = tmp_path / "other.ko"
    src.write(other)
    proc = klp("convert", str(other), "-o", str(tmp_path / "o.ko"), "--symdb",
               str(dbs["x86_64"]), check=5)
    assert "6.1.0-klp-elsewhere" in proc.stderr


def test_load_order_dependent_position(dbs: dict[str, pathlib.Path],
                                       tmp_path: pathlib.Path) -> None:
    """fixture_mod's mod_probe: one copy is in .init.text, so a position counted while
    the module is live differs from the one counted while it loads after the patch."""
    src = ElfFile.open(TESTDATA / "x86_64" / "livepatch-fixture.ko")
    text = src.find_section(".rela.text")
    assert text is not None
    sym = src.add_symbol("mod_probe", info=0x10, shndx=SHN.UNDEF)
    src.rela(text).rows.append((0, (sym << 32) | 4, -4))
    patched = tmp_path / "probe.ko"
    src.write(patched)
    proc = klp("convert", str(patched), "--dry-run", "--json", "--symdb", str(dbs["x86_64"]),
               "--symvers", str(TESTDATA / "x86_64" / "Module.symvers"), check=4)
    problems = {p["symbol"]: p for p in json.loads(proc.stdout)["problems"]}
    assert "depends on load order" in problems["mod_probe"]["message"]


def test_annotation_needs_absolute_pointer(dbs: dict[str, pathlib.Path],
                                           tmp_path: pathlib.Path) -> None:
    """A KLP_SYMPOS entry relocated by anything but the 64-bit absolute type is refused."""
    src = ElfFile.open(TESTDATA / "x86_64" / "livepatch-fixture.ko")
    anno = src.find_section(".klp.module_relocs.vmlinux")
    assert anno is not None
    rela = next(s for s in src.sections_of_type(SHT.RELA) if s.sh_info == anno.index)
    off, info, addend = src.rela(rela).rows[0]
    src.rela(rela).rows[0] = (off, (info >> 32 << 32) | 2, addend)  # R_X86_64_PC32
    bad = tmp_path / "bad.ko"
    src.write(bad)
    proc = klp("convert", str(bad), "--dry-run", "--json", "--symdb", str(dbs["x86_64"]),
               "--symvers", str(TESTDATA / "x86_64" / "Module.symvers"), check=4)
    messages = [p["message"] for p in json.loads(proc.stdout)["problems"]]
    assert any("R_X86_64_PC32 is not the 64-bit absolute R_X86_64_64" in m for m in messages)


def test_a_signed_input_loses_its_signature_with_a_warning(dbs: dict[str, pathlib.Path],
                                                           tmp_path: pathlib.Path) -> None:
    """Signing comes after conversion: a signature over the input cannot match the
    output, so it is left out, and the user is told to sign the result."""
    signed = tmp_path / "signed.ko"
    plain = (TESTDATA / "x86_64" / "livepatch-fixture.ko").read_bytes()
    signed.write_bytes(plain + b"\x01" * 40 + b"~Module signature appended~\n")
    out = tmp_path / "out.ko"
    report = json.loads(klp("convert", str(signed), "-o", str(out), "--symdb",
                            str(dbs["x86_64"]), "--json").stdout)
    assert f"{signed} is signed, and the signature cannot match the converted module: it is " \
        "left out (sign the output, scripts/sign-file, if the kernel checks signatures)" \
        in report["warnings"]
    assert not out.read_bytes().endswith(b"~Module signature appended~\n")
    unsigned = tmp_path / "unsigned.ko"
    klp("convert", str(TESTDATA / "x86_64" / "livepatch-fixture.ko"), "-o", str(unsigned),
        "--symdb", str(dbs["x86_64"]))
    assert out.read_bytes() == unsigned.read_bytes()
