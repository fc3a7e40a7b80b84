"""RELA sections: raw (r_offset, r_info, r_addend) rows with split helpers."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from klp.elfcodec.constants import r_sym, r_type
from klp.elfcodec.fast import RecordCodec

#: A raw Elf64_Rela row: (r_offset, r_info, r_addend).
RelaRow = tuple[int, int, int]


class Relocation(NamedTuple):
    """One decoded relocation; ``index`` is its row in the section."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, which no caller needs
    offset: int
    sym: int
    type: int
    addend: int


class RelaTable:
    """A RELA section's entries.

    Decoding keeps three columns (arrays filled in C), which is all a scan needs;
    the row tuples that editing works on are made on first use of :attr:`rows`.
    """

    __slots__ = ("_addends", "_infos", "_offsets", "_rows", "codec")

    def __init__(self, codec: RecordCodec, rows: list[RelaRow]) -> None:
        self.codec = codec
        self._rows: list[RelaRow] | None = rows
        self._offsets = self._infos = self._addends = array("Q")

    @classmethod
    def decode(cls, codec: RecordCodec, raw: bytes | memoryview) -> RelaTable:
        table = cls(codec, [])
        table._rows = None
        # r_addend comes back as its two's complement bits
        table._offsets, table._infos, table._addends = codec.columns(
            raw, "r_offset", "r_info", "r_addend")
        return table

    @property
    def rows(self) -> list[RelaRow]:
        if self._rows is None:
            self._rows = list(zip(self._offsets, self._infos, self.addends, strict=True))
            self._offsets = self._infos = self._addends = array("Q")
        return self._rows

    @rows.setter
    def rows(self, rows: list[RelaRow]) -> None:
        self._rows = rows

    @property
    def offsets(self) -> Sequence[int]:
        """Every r_offset, without making row tuples."""
        if self._rows is None:
            return self._offsets
        return [offset for offset, _, _ in self._rows]

    @property
    def infos(self) -> Sequence[int]:
        """Every r_info, without making row tuples."""
        if self._rows is None:
            return self._infos
        return [info for _, info, _ in self._rows]

    @property
    def addends(self) -> Sequence[int]:
        """Every r_addend, signed, without making row tuples."""
        if self._rows is None:
            return array("q", self._addends.tobytes())
        return [addend for _, _, addend in self._rows]

    def symbols(self) -> Sequence[int]:
        """The symbol index (r_sym) of every relocation, in row order."""
        if self._rows is None:
            return self._info_half(high=True)
        return [r_sym(info) for info in self.infos]

    def types(self) -> Sequence[int]:
        """The type (r_type) of every relocation, in row order."""
        if self._rows is None:
            return self._info_half(high=False)
        return [r_type(info) for info in self.infos]

    def _info_half(self, *, high: bool) -> array[int]:
        """One 32-bit half of every r_info, split in C: the column holds host-order
        64-bit words, so read as 32-bit words the halves alternate (r_sym is the high
        one, ELF64_R_SYM)."""
        words = array("I", self._infos.tobytes())
        return words[int(high == (sys.byteorder == "little")) :: 2]

    def __len__(self) -> int:
        return len(self._infos) if self._rows is None else len(self._rows)

    def relocation(self, index: int) -> Relocation:
        off, info, addend = self.rows[index]
        return Relocation(index, off, r_sym(info), r_type(info), addend)

    def __iter__(self) -> Iterator[Relocation]:
        return (self.relocation(i) for i in range(len(self)))

    def encode(self) -> bytes:
        if self._rows is not None:
            return self.codec.pack(self._rows)
        return self.codec.interleave((self._offsets, self._infos, self._addends))


class WordTable:
    """A table of 32-bit words: SHT_GROUP (flag word, then members) and .symtab_shndx."""

    __slots__ = ("codec", "words")

    def __init__(self, codec: RecordCodec, words: list[int]) -> None:
        self.codec = codec
        self.words = words

    def encode(self) -> bytes:
        return self.codec.pack((w,) for w in self.words)
