"""Symbol tables: raw rows in file order, decoded views on demand."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import NamedTuple

from klp.elfcodec.constants import SHN, STB, STT, STV, st_bind, st_type
from klp.elfcodec.fast import RecordCodec
from klp.elfcodec.records import ST_INFO, ST_NAME, ST_OTHER, ST_SHNDX, ST_SIZE, ST_VALUE
from klp.elfcodec.strings import StringTable, decode_name

#: A raw Elf64_Sym row in declaration order:
#: (st_name, st_info, st_other, st_shndx, st_value, st_size).
SymRow = tuple[int, int, int, int, int, int]


class Symbol(NamedTuple):
    """One decoded symbol. ``shndx`` is the real section index (SHN_XINDEX resolved)."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, which no caller needs
    name: str
    value: int
    size: int
    bind: int
    type: int
    other: int
    shndx: int

    @property
    def visibility(self) -> int:
        return self.other & 0x3

    @property
    def defined(self) -> bool:
        return self.shndx != SHN.UNDEF

    def describe(self) -> str:
        return f"{_name(STB, self.bind)} {_name(STT, self.type)} {_name(STV, self.visibility)}"


def _index(values: list[int], value: int, start: int) -> int:
    """Where ``value`` is next in ``values`` from ``start``, or -1."""
    try:
        return values.index(value, start)
    except ValueError:
        return -1


def _name(enum_type: type[STB] | type[STT] | type[STV], value: int) -> str:
    try:
        return enum_type(value).name
    except ValueError:
        return str(value)


class SymbolTable:
    """The rows of one SHT_SYMTAB, with its string table and ``.symtab_shndx`` words.

    Rows stay raw tuples (cheap to decode and to write back); :meth:`symbol`
    builds a :class:`Symbol` when a caller wants one.
    """

    __slots__ = ("codec", "rows", "strtab", "xindex")

    def __init__(
        self, codec: RecordCodec, rows: list[SymRow], strtab: StringTable, xindex: list[int] | None
    ) -> None:
        self.codec = codec
        self.rows = rows
        self.strtab = strtab
        self.xindex = xindex

    def __len__(self) -> int:
        return len(self.rows)

    def name(self, index: int) -> str:
        name = self.strtab.get(self.rows[index][ST_NAME])
        return "" if name is None else name

    def names(self) -> list[str]:
        """Every name, in table order (the bulk path for scanners and listings)."""
        offsets = [row[ST_NAME] for row in self.rows]
        data = self.strtab.data
        if data[-1:] == b"\0" and max(offsets, default=0) < len(data):
            # every name is NUL-terminated inside the table: no per-name checks
            find = data.find
            return list(map(decode_name, [data[o : find(b"\0", o)] for o in offsets]))
        get = self.strtab.get
        return [get(o) or "" for o in offsets]

    def columns(self, *fields: str) -> list[list[int]]:
        """Raw fields of every symbol, by the codec's field names (``"st_value"``), in
        table order: the bulk path for listings. ``st_shndx`` is as stored; see
        :meth:`section_indices`."""
        rows = self.rows
        return [list(map(itemgetter(self.codec.fields.index(f)), rows)) for f in fields]

    def section_indices(self) -> list[int]:
        """:meth:`shndx` of every symbol (SHN_XINDEX resolved), in table order."""
        (stored,) = self.columns("st_shndx")
        xindex = self.xindex
        if xindex is None or SHN.XINDEX not in stored:
            return stored
        return [xindex[i] if s == SHN.XINDEX else s for i, s in enumerate(stored)]

    def indices_in(self, shndx: int) -> list[int]:
        """The symbols whose section index is ``shndx`` (SHN_LIVEPATCH, say), read from
        the bulk column."""
        return [i for i, at in enumerate(self.section_indices()) if at == shndx]

    def functions_at(self, places: Collection[tuple[int | None, int]]
                     ) -> dict[tuple[int | None, int], list[str]]:
        """The names of the function symbols at each place: (section index, value) in
        a relocatable object, (None, address) in a linked image."""
        found: dict[tuple[int | None, int], list[str]] = {}
        if not places:
            return found
        (values,) = self.columns("st_value")
        linked = all(section is None for section, _ in places)
        for value in sorted({value for _, value in places}):
            i = -1
            while (i := _index(values, value, i + 1)) >= 0:  # the search runs in C
                if self.type(i) == STT.FUNC:
                    at = (None if linked else self.shndx(i), value)
                    if at in places:
                        found.setdefault(at, []).append(self.name(i))
        return found

    def bind(self, index: int) -> int:
        return st_bind(self.rows[index][ST_INFO])

    def type(self, index: int) -> int:
        return st_type(self.rows[index][ST_INFO])

    def other(self, index: int) -> int:
        return int(self.rows[index][ST_OTHER])

    def value(self, index: int) -> int:
        return int(self.rows[index][ST_VALUE])

    def size(self, index: int) -> int:
        return int(self.rows[index][ST_SIZE])

    def undefined_names(self, *, weak: bool = True) -> set[str]:
        """The names of the undefined symbols (the null one aside): what the module
        loader, or livepatch, must resolve. ``weak=False``: without the weak ones, which
        the loader leaves at 0 when nothing exports them."""
        undef, weak_info = int(SHN.UNDEF), int(STB.WEAK)
        return {self.name(i) for i, row in enumerate(self.rows) if row[ST_SHNDX] == undef
                and i and (weak or st_bind(row[ST_INFO]) != weak_info)}

    def raw_names(self, indices: Iterable[int]) -> list[bytes]:
        """The names of ``indices`` as bytes (the bulk path for scanners)."""
        strtab = self.strtab.encode()  # with any names an edit appended
        find = strtab.find
        rows = self.rows
        return [strtab[o : find(b"\0", o)] for o in [rows[i][ST_NAME] for i in indices]]

    def file_symbols(self, indices: Iterable[int]) -> list[int | None]:
        """For each of ``indices``, the STT_FILE symbol a local one follows (``ld -r``
        and the compiler put each file's locals after its STT_FILE symbol); None for
        globals and for locals before any file symbol."""
        rows = self.rows
        # st_type/st_bind inline, constants as plain local ints: this runs over every
        # symbol of a vmlinux and of each module
        info, file, local = ST_INFO, int(STT.FILE), int(STB.LOCAL)
        files = [i for i, row in enumerate(rows) if row[info] & 0xF == file]
        right = bisect.bisect_right
        return [None if rows[i][info] >> 4 != local
                or (f := right(files, i) - 1) < 0 else files[f] for i in indices]

    def file_names(self, files: Sequence[int | None]) -> list[bytes]:
        """The names of ``files`` (as :meth:`file_symbols` gives them), each read once;
        b"" for None."""
        known = sorted({f for f in files if f is not None})
        names = dict(zip(known, self.raw_names(known), strict=True))
        return [b"" if f is None else names[f] for f in files]

    def shndx(self, index: int) -> int:
        shndx = self.rows[index][ST_SHNDX]
        if shndx == SHN.XINDEX and self.xindex is not None:
            return self.xindex[index]
        return shndx

    def section_of(self, index: int) -> int | None:
        """The section the symbol is defined in; None when undefined or special (ABS,
        COMMON, SHN_LIVEPATCH, ...)."""
        shndx = self.rows[index][ST_SHNDX]
        if shndx == SHN.XINDEX and self.xindex is not None:
            return self.xindex[index] or None  # a real index, reserved range or not
        return None if shndx == SHN.UNDEF or shndx >= SHN.LORESERVE else shndx

    def symbol(self, index: int) -> Symbol:
        row = self.rows[index]
        return Symbol(
            index=index,
            name=self.name(index),
            value=row[ST_VALUE],
            size=row[ST_SIZE],
            bind=st_bind(row[ST_INFO]),
            type=st_type(row[ST_INFO]),
            other=row[ST_OTHER],
            shndx=self.shndx(index),
        )

    def __iter__(self) -> Iterator[Symbol]:
        return (self.symbol(i) for i in range(len(self.rows)))

    def first_nonlocal(self) -> int:
        for i, row in enumerate(self.rows):
            if i and st_bind(row[ST_INFO]) != STB.LOCAL:
                return i
        return len(self.rows)

    def encode(self) -> bytes:
        return self.codec.pack(self.rows)
