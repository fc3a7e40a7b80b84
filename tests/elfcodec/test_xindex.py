"""Extended section numbering (> 65,280 sections) and SHT_GROUP objects round-trip."""

from __future__ import annotations

import lzma
import pathlib
import struct
import subprocess

import pytest

from klp.elfcodec.constants import SHN, SHT, STB, STT, st_info
from klp.elfcodec.elffile import ElfFile
from tests.support.paths import TESTDATA, fixture_objects

XINDEX = sorted((TESTDATA / "xindex").glob("*.o.xz"))
GROUPS = sorted((TESTDATA / "group").glob("*.o"))


@pytest.mark.parametrize("path", XINDEX, ids=lambda p: p.name)
def test_extended_numbering_round_trip(path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    data = lzma.decompress(path.read_bytes())
    elf = ElfFile.from_bytes(data, str(path))
    assert len(elf.sections) >= SHN.LORESERVE
    assert elf.ehdr[18] == 0  # e_shnum escapes to section 0
    table = elf.symtab
    assert table.xindex is not None
    high = [i for i in range(len(table)) if table.rows[i][3] == SHN.XINDEX]
    assert high and all(table.shndx(i) >= SHN.LORESERVE or table.shndx(i) for i in high)
    elf.decode_all()
    assert elf.to_bytes() == data

    # an edit past the escape: a new local symbol defined in a high section
    highest = max(table.shndx(i) for i in high)
    elf.add_symbol("klp_high_local", info=st_info(STB.LOCAL, STT.NOTYPE), shndx=highest)
    out = tmp_path / "edited.o"
    elf.write(out)
    again = ElfFile.open(out)
    assert len(again.sections) == len(elf.sections)
    names = again.symtab.names()
    idx = names.index("klp_high_local")
    assert again.symtab.shndx(idx) == highest
    proc = subprocess.run(["readelf", "-h", str(out)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0 and not proc.stderr


@pytest.mark.parametrize("path", GROUPS, ids=lambda p: p.name)
def test_groups_survive_section_removal(path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    elf = ElfFile.open(path)
    groups = elf.sections_of_type(SHT.GROUP)
    assert groups
    before = {elf.symtab.name(g.sh_info): [elf.sections[m].name for m in elf.group_members(g)]
              for g in groups}
    victim = elf.find_section(".data")
    assert victim is not None and victim.index < max(
        m for g in groups for m in elf.group_members(g))
    elf.add_symbol("klp_local", info=st_info(STB.LOCAL, STT.NOTYPE), shndx=SHN.ABS)
    elf.remove_sections([victim])
    out = tmp_path / "g.o"
    elf.write(out)
    again = ElfFile.open(out)
    for g in again.sections_of_type(SHT.GROUP):
        members = [again.sections[m].name for m in again.group_members(g)]
        assert members == before[again.symtab.name(g.sh_info)]


def _escaped(data: bytes) -> bytes:
    """``data`` with its section count and name table index moved into section 0,
    as a linker may write them even when they fit the ELF header."""
    out = bytearray(data)
    order = "<" if out[5] == 1 else ">"
    shoff, = struct.unpack_from(order + "Q", out, 0x28)
    shnum, shstrndx = struct.unpack_from(order + "HH", out, 0x3C)
    struct.pack_into(order + "HH", out, 0x3C, 0, SHN.XINDEX)
    struct.pack_into(order + "Q", out, shoff + 32, shnum)  # sh_size of section 0
    struct.pack_into(order + "L", out, shoff + 40, shstrndx)  # sh_link of section 0
    return bytes(out)


@pytest.mark.parametrize("path", fixture_objects()[:3], ids=lambda p: p.name)
def test_escaped_numbering_of_a_small_file_round_trips(path: pathlib.Path,
                                                      tmp_path: pathlib.Path) -> None:
    data = _escaped(path.read_bytes())
    elf = ElfFile.from_bytes(data)
    assert elf.shstrtab_section.name == ".shstrtab"
    elf.decode_all()
    out = tmp_path / "same.o"
    elf.write(out)
    assert out.read_bytes() == data

    elf.add_section(".klp.note", SHT.PROGBITS, data=b"x")  # edited: plain numbering again
    elf.write(out)
    edited = out.read_bytes()
    shnum, shstrndx = struct.unpack_from("<HH" if edited[5] == 1 else ">HH", edited, 0x3C)
    assert (shnum, shstrndx) == (len(elf.sections), elf.shstrndx)
    assert ElfFile.open(out).sections[0].header == (0,) * 10
