"""Bulk record codecs derived mechanically from the construct layouts.

Per-entry construct parsing costs microseconds per record; a ``struct.Struct``
with ``iter_unpack`` costs about 0.2 µs. :func:`derive` turns a flat construct
Struct into such a codec, so the layout is still declared only once; its results
are kept in the generated :mod:`klp.elfcodec.records` (tools/gen_records.py), so
that reading a file does not import construct.
"""

from __future__ import annotations

import array
import functools
import gc
import re
import struct
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from construct import Struct

_TYPECODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
if any(array.array(code).itemsize != width for width, code in _TYPECODES.items()):
    # the C types behind array's codes vary by platform; columns need these widths
    raise RuntimeError("klp needs array typecodes B, H, I, Q of 1, 2, 4 and 8 bytes")


class RecordCodec:
    """A fixed-size record codec: rows are plain tuples in declaration order."""

    __slots__ = ("_places", "fields", "struct")

    def __init__(self, fields: tuple[str, ...], layout: struct.Struct) -> None:
        self.fields = fields
        self.struct = layout
        order, codes = layout.format[0], re.findall(r"\d*[A-Za-z]", layout.format[1:])
        #: Each field's (byte offset, width) inside a record.
        self._places = {
            name: (struct.calcsize(order + "".join(codes[:i])), struct.calcsize(order + code))
            for i, (name, code) in enumerate(zip(fields, codes, strict=True))
        }

    def __repr__(self) -> str:
        return f"RecordCodec({self.fields!r}, {self.struct.format!r})"

    @property
    def size(self) -> int:
        return self.struct.size

    def unpack(self, buf: bytes | memoryview) -> list[tuple[Any, ...]]:
        # Millions of new tuples would trigger the cyclic GC over and over; they
        # cannot form cycles, so collection is paused while they are made.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return list(self.struct.iter_unpack(buf))
        finally:
            if enabled:
                gc.enable()

    def unpack_one(self, buf: bytes | memoryview, offset: int = 0) -> tuple[Any, ...]:
        return self.struct.unpack_from(buf, offset)

    def columns(self, buf: bytes | memoryview, *fields: str) -> list[array.array[int]]:
        """Unsigned integer fields of every record, decoded in C (no per-record objects)."""
        places = [self._places[f] for f in fields]
        width = places[0][1]
        if any(w != width or start % width for start, w in places) or self.size % width:
            indices = [self.fields.index(f) for f in fields]
            rows = list(self.struct.iter_unpack(buf))
            return [array.array(_TYPECODES[w], (r[i] & ((1 << (8 * w)) - 1) for r in rows))
                    for i, (_, w) in zip(indices, places, strict=True)]
        words = array.array(_TYPECODES[width])
        words.frombytes(buf)
        if (self.struct.format[0] == "<") != (sys.byteorder == "little") and width > 1:
            words.byteswap()
        step = self.size // width
        return [words[start // width :: step] for start, _ in places]

    def column(self, buf: bytes | memoryview, field: str) -> array.array[int]:
        return self.columns(buf, field)[0]

    def interleave(self, columns: Sequence[array.array[int]]) -> bytes:
        """Encode records from equal-width unsigned columns (the inverse of :meth:`column`)."""
        width = columns[0].itemsize
        words = array.array(columns[0].typecode, bytes(width * len(columns) * len(columns[0])))
        for i, col in enumerate(columns):
            words[i :: len(columns)] = col
        if (self.struct.format[0] == "<") != (sys.byteorder == "little") and width > 1:
            words.byteswap()
        return words.tobytes()

    def pack(self, rows: Iterable[Sequence[Any]]) -> bytes:
        pack = self.struct.pack
        return b"".join([pack(*row) for row in rows])

    def pack_one(self, row: Sequence[Any]) -> bytes:
        return self.struct.pack(*row)


def derive(con: Struct) -> RecordCodec:
    """Derive a :class:`RecordCodec` from a flat construct Struct.

    Only named fixed-size integer and byte-string fields are allowed, all in one
    byte order; anything else is a programming error in :mod:`layouts`.
    """
    from construct import Bytes, FormatField, Renamed
    order = ""
    codes: list[str] = []
    names: list[str] = []
    for sub in con.subcons:
        if not isinstance(sub, Renamed) or sub.name is None:
            raise TypeError(f"unnamed field in {con!r}")
        inner = sub.subcon
        if isinstance(inner, FormatField):
            field_order, code = inner.fmtstr[0], inner.fmtstr[1:]
            if code not in ("B", "b"):
                if order and field_order != order:
                    raise TypeError(f"mixed byte order in {con!r}")
                order = field_order
            codes.append(code)
        elif isinstance(inner, Bytes) and isinstance(inner.length, int):
            codes.append(f"{inner.length}s")
        else:
            raise TypeError(f"field {sub.name} of {con!r} is not fixed-size")
        names.append(sub.name)
    fmt = (order or "<") + "".join(codes)
    codec = RecordCodec(tuple(names), struct.Struct(fmt))
    if codec.size != con.sizeof():
        raise TypeError(f"derived size {codec.size} != construct size {con.sizeof()}")
    return codec


#: The records :mod:`klp.elfcodec.layouts` declares, in declaration order.
RECORD_NAMES = ("Ehdr", "Shdr", "Phdr", "Sym", "Rela", "Word", "KlpModuleReloc", "Chdr")


class Codecs(NamedTuple):
    """The record codecs for one byte order, one per declared layout."""

    Ehdr: RecordCodec
    Shdr: RecordCodec
    Phdr: RecordCodec
    Sym: RecordCodec
    Rela: RecordCodec
    Word: RecordCodec
    KlpModuleReloc: RecordCodec
    Chdr: RecordCodec


@functools.cache
def codecs(little: bool) -> Codecs:
    """The codecs of one byte order, from the generated formats."""
    from klp.elfcodec.records import RECORDS  # generated from this module's derive()

    order = "<" if little else ">"
    return Codecs(**{name: RecordCodec(RECORDS[name][0], struct.Struct(order + RECORDS[name][1]))
                     for name in RECORD_NAMES})
