"""The codec's bulk accessors (columns in table order) agree with its per-row views."""

from __future__ import annotations

import lzma
import pathlib
import struct

import pytest

from klp.elfcodec.constants import SHT, r_info, st_info
from klp.elfcodec.elffile import ElfFile
from klp.errors import ElfError
from tests.support.paths import TESTDATA, fixture_objects

FILES = [*fixture_objects(), *sorted((TESTDATA / "xindex").glob("*.o.xz"))]


def _open(path: pathlib.Path) -> ElfFile:
    if path.suffix == ".xz":
        return ElfFile.from_bytes(lzma.decompress(path.read_bytes()), str(path))
    return ElfFile.open(path)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(TESTDATA)))
def test_symbol_columns(path: pathlib.Path) -> None:
    table = _open(path).symtab
    symbols = list(table)
    infos, others, values, sizes = table.columns("st_info", "st_other", "st_value", "st_size")
    assert values == [s.value for s in symbols]
    assert sizes == [s.size for s in symbols]
    assert others == [s.other for s in symbols]
    assert infos == [st_info(s.bind, s.type) for s in symbols]
    assert table.section_indices() == [s.shndx for s in symbols]


@pytest.mark.parametrize("path", fixture_objects(), ids=lambda p: str(p.relative_to(TESTDATA)))
def test_relocation_columns_and_chunks(path: pathlib.Path) -> None:
    elf = ElfFile.open(path)
    for sec in elf.sections_of_type(SHT.RELA):
        chunks = list(elf.rela_chunks(sec, rows=7))
        assert not sec.decoded  # chunks are not kept
        table = elf.rela(sec)
        rows = list(table)
        assert [len(c) for c in chunks[:-1]] == [7] * (len(chunks) - 1)
        assert [v for c in chunks for v in c.offsets] == [r.offset for r in rows]
        assert [v for c in chunks for v in c.symbols()] == [r.sym for r in rows]
        assert [v for c in chunks for v in c.types()] == [r.type for r in rows]
        assert [v for c in chunks for v in c.addends] == [r.addend for r in rows]
        # the same once the table holds row tuples (as after an edit)
        before = (list(table.symbols()), list(table.types()), list(table.addends))
        assert table.rows
        assert (list(table.symbols()), list(table.types()), list(table.addends)) == before
        assert list(elf.rela_chunks(sec)) == [table]


def test_a_chunk_names_the_bad_relocation() -> None:
    path = next(p for p in fixture_objects() if p.name == "livepatch-fixture.ko"
                and p.parent.name == "x86_64")
    elf = ElfFile.open(path)
    sec = next(s for s in elf.sections_of_type(SHT.RELA) if s.sh_size >= 24 * 10)
    data = bytearray(path.read_bytes())
    struct.pack_into("<Q", data, sec.sh_offset + 9 * 24 + 8, r_info(256, 1))  # row 9
    bad = ElfFile.from_bytes(bytes(data), "bad.ko")
    chunks = bad.rela_chunks(bad.sections[sec.index], rows=4)
    assert len(next(chunks)) == 4 and len(next(chunks)) == 4
    with pytest.raises(ElfError, match="relocation 9 uses symbol 256") as caught:
        next(chunks)
    assert caught.value.offset == sec.sh_offset + 9 * 24
