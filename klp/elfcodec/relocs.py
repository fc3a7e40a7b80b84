"""RELA sections: raw (r_offset, r_info, r_addend) rows with split helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from klp.elfcodec.fast import Table

#: A raw Elf64_Rela row: (r_offset, r_info, r_addend).
RelaRow = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Relocation:
    """One decoded relocation; ``index`` is its row in the section."""

    index: int
    offset: int
    sym: int
    type: int
    addend: int


class RelaTable:
    __slots__ = ("codec", "rows")

    def __init__(self, codec: Table, rows: list[RelaRow]) -> None:
        self.codec = codec
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def relocation(self, index: int) -> Relocation:
        off, info, addend = self.rows[index]
        return Relocation(index, off, info >> 32, info & 0xFFFFFFFF, addend)

    def __iter__(self) -> Iterator[Relocation]:
        return (self.relocation(i) for i in range(len(self.rows)))

    def encode(self) -> bytes:
        return self.codec.pack(self.rows)


class WordTable:
    """A table of 32-bit words: SHT_GROUP (flag word, then members) and .symtab_shndx."""

    __slots__ = ("codec", "words")

    def __init__(self, codec: Table, words: list[int]) -> None:
        self.codec = codec
        self.words = words

    def encode(self) -> bytes:
        return self.codec.pack((w,) for w in self.words)
