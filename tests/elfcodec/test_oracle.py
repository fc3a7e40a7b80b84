"""The codec's view of every fixture equals what binutils readelf prints."""

from __future__ import annotations

import pathlib

import pytest

from klp.elfcodec import describe
from klp.elfcodec.constants import SHN, SHT
from klp.elfcodec.elffile import ElfFile
from klp.elfview import symbol_label
from tests.conftest import TESTDATA, fixture_objects
from tests.elfcodec.readelf import readelf

FIXTURES = fixture_objects()


def _ndx(shndx: int) -> str:
    if shndx == SHN.LIVEPATCH:
        return "OS [0xff20]"
    return describe.section_index(shndx)


def codec_view(elf: ElfFile) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]],
                                      dict[str, list[tuple[object, ...]]]]:
    sections = [
        (s.index, s.name, describe.section_type(s.sh_type), s.sh_addr, s.sh_offset, s.sh_size,
         s.sh_entsize, describe.section_flags(s.sh_flags), s.sh_link, s.sh_info, s.sh_addralign)
        for s in elf.sections
    ]
    symbols = [
        (sym.index, sym.value, sym.size, describe.symbol_type(sym.type),
         describe.symbol_bind(sym.bind), describe.symbol_visibility(sym.other), _ndx(sym.shndx),
         symbol_label(elf, elf.symtab, sym.index))
        for sym in elf.symtab
    ]
    relocs: dict[str, list[tuple[object, ...]]] = {}
    for sec in elf.sections_of_type(SHT.RELA):
        table = elf.symbols(elf.section(sec.sh_link))
        rows = relocs.setdefault(sec.name, [])
        for rel in elf.rela(sec):
            name = symbol_label(elf, table, rel.sym) if rel.sym else ""
            rows.append((rel.offset, (rel.sym << 32) | rel.type, elf.arch.reloc_name(rel.type),
                         name, rel.addend))
    # readelf does not list relocation sections that have no entries
    return sections, symbols, {k: v for k, v in relocs.items() if v}


def test_fixtures_exist() -> None:
    arches = {p.relative_to(TESTDATA).parts[0] for p in FIXTURES}
    assert arches == {"x86_64", "arm64", "ppc64le", "s390x"}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(TESTDATA)))
def test_matches_readelf(path: pathlib.Path) -> None:
    oracle = readelf(str(path))
    assert oracle.warnings == []
    sections, symbols, relocs = codec_view(ElfFile.open(path))
    assert sections == oracle.sections
    assert symbols == oracle.symbols
    assert relocs == oracle.relocs
