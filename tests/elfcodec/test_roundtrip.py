"""Unmodified files write back byte for byte; edited files stay valid for readelf and ld."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from klp.elfcodec.constants import SHF, SHN, SHT, STB, STT, st_info
from klp.elfcodec.elffile import ElfFile
from tests.support.paths import LINKERS, TESTDATA, fixture_objects
from tests.support.readelf import codec_view, readelf

FIXTURES = fixture_objects()
RELOCATABLE = [p for p in FIXTURES if p.name != "vmlinux"]


def ids(p: pathlib.Path) -> str:
    return str(p.relative_to(TESTDATA))


@pytest.mark.parametrize("path", FIXTURES, ids=ids)
def test_unmodified_write_is_identical(path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    elf = ElfFile.open(path)
    elf.decode_all()  # every table is re-encoded from the model, not copied
    out = tmp_path / "out"
    elf.write(out)
    assert out.read_bytes() == path.read_bytes()


def _edit(elf: ElfFile) -> dict[str, object]:
    """Rename, add (local and global), add a section, move and remove: the converter's moves."""
    table = elf.symtab
    undefined = [i for i in range(1, len(table)) if table.shndx(i) == SHN.UNDEF]
    target_rela = next(
        s for s in elf.sections_of_type(SHT.RELA)
        if elf.rela(s).rows and elf.sections[s.sh_info].sh_flags & SHF.ALLOC
    )
    first_text = next(s for s in elf.sections if s.sh_flags & SHF.EXECINSTR)
    new_local = elf.add_symbol(
        "klp_test_local", info=st_info(STB.LOCAL, STT.NOTYPE), shndx=first_text.index
    )
    new_global = elf.add_symbol("klp_test_global", info=st_info(STB.GLOBAL, STT.NOTYPE),
                                shndx=SHN.UNDEF)
    renamed = None
    if undefined:
        renamed = undefined[0] + 1  # shifted by the new local
        elf.rename_symbol(renamed, ".klp.sym.vmlinux.renamed,0")
        elf.set_symbol(renamed, st_shndx=SHN.LIVEPATCH)
    target = elf.sections[target_rela.sh_info]
    klp = elf.add_rela_section(".klp.rela.vmlinux." + target.name, target,
                               flags=SHF.ALLOC | SHF.RELA_LIVEPATCH)
    moved = elf.rela(target_rela).rows[0]
    elf.move_relocations(target_rela, {klp: [0]})
    note = elf.add_section(".klp.test.note", SHT.PROGBITS, data=b"klp\0", addralign=1)
    comment = elf.find_section(".comment")
    dropped = 0
    if comment is not None:
        dropped = sum(1 for i in range(1, len(elf.symtab))
                      if elf.symtab.shndx(i) == comment.index)
        elf.remove_sections([comment])
    return {"local": new_local, "global": new_global, "renamed": renamed, "moved": moved,
            "klp": klp.name, "note": note.name, "dropped": dropped}


@pytest.mark.parametrize("path", RELOCATABLE, ids=ids)
def test_edits_keep_file_valid(path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    elf = ElfFile.open(path)
    before_names = [elf.symtab.name(i) for i in range(len(elf.symtab))]
    done = _edit(elf)
    out = tmp_path / "edited.o"
    elf.write(out)
    again = ElfFile.open(out)
    oracle = readelf(str(out))
    assert oracle.warnings == []
    sections, symbols, relocs = codec_view(again)
    assert (sections, symbols, relocs) == (oracle.sections, oracle.symbols, oracle.relocs)
    names = [again.symtab.name(i) for i in range(len(again.symtab))]
    assert "klp_test_local" in names
    assert names[-1] == "klp_test_global"
    assert len(names) == len(before_names) + 2 - done["dropped"]  # type: ignore[operator]
    # locals first, and sh_info says where the globals start
    symtab = again.symtab_section
    binds = [again.symtab.symbol(i).bind for i in range(len(names))]
    assert all(b == STB.LOCAL for b in binds[: symtab.sh_info])
    assert all(b != STB.LOCAL for b in binds[symtab.sh_info :])
    klp = again.find_section(done["klp"])  # type: ignore[arg-type]
    assert klp is not None and klp.sh_flags & SHF.RELA_LIVEPATCH
    assert again.rela(klp).rows[0][0] == done["moved"][0]  # type: ignore[index]
    assert again.find_section(".comment") is None
    linker = LINKERS[path.relative_to(TESTDATA).parts[0]]
    if shutil.which(linker) is None:
        pytest.skip(f"{linker} not installed")
    linked = subprocess.run([linker, "-r", str(out), "-o", str(tmp_path / "linked.o")],
                            capture_output=True, text=True, check=False)
    assert linked.returncode == 0, linked.stderr


@pytest.mark.parametrize("path", RELOCATABLE[:4], ids=ids)
def test_input_is_never_touched(path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    original = copy.read_bytes()
    elf = ElfFile.open(copy)
    _edit(elf)
    elf.write(copy)  # in place: temp file + rename, the mapped input stays valid
    assert copy.read_bytes() != original
    assert ElfFile.open(copy).symtab.name(len(ElfFile.open(copy).symtab) - 1) == "klp_test_global"
