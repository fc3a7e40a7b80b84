"""Our dialect, ``klp-symbols 1`` (docs/symbols-klp.md): a header line, ``%key<TAB>value``
metadata, then per object a ``*<object>`` line, its own ``%`` lines and one
tab-separated line per symbol in position order, then an index (fixed-width hex
lines, so a reader can seek in it) and a ``#end`` line that points at the index.

The writer encodes each object in a scan worker (its lines and index keys) and
the assembler files the keys as objects arrive; the reader looks a name up
through the index and checks everything it reads.
"""

from __future__ import annotations

import mmap
import operator
import re
import sys
import zlib
from array import array
from collections.abc import Sequence
from itertools import accumulate, pairwise

from klp.elfcodec.constants import st_bind, st_type
from klp.elfcodec.strings import decode_name, encode_name
from klp.errors import InputError
from klp.symdb.format.common import (
    LINE_MARKERS,
    EncodedObject,
    Reader,
    Writer,
    escape,
    escape_all,
    unescape,
)
from klp.symdb.model import BIND_NAMES, TYPE_NAMES, Dialect, ObjectSymbols, SymbolRecord

HEADER = b"klp-symbols 1"

#: Index entry: the top 24 bits of the name's CRC-32, then a 40-bit line offset.
_OFFSET_BITS = 40
_OFFSET_MASK = (1 << _OFFSET_BITS) - 1
_ENTRY = 17  #: 16 hex digits and a newline
_BUCKET = 9  #: 8 hex digits and a newline
_FIELDS = 12  #: fields of a symbol line


# -- writing -------------------------------------------------------------------------


def _meta_lines(meta: dict[str, str], first: tuple[str, ...] = ()) -> list[bytes]:
    keys = [k for k in first if k in meta] + sorted(k for k in meta if k not in first)
    return [b"%%%s\t%s\n" % (escape(encode_name(k)),
                             escape(encode_name(meta[k])))
            for k in keys]


def _type_bind() -> list[bytes]:
    return [TYPE_NAMES[st_type(i)] + b"\t" + BIND_NAMES[st_bind(i)] for i in range(256)]


_TYPE_BIND: list[bytes] = []
_MAP_TYPE_BIND = {b"W": b"?\tWEAK", b"V": b"?\tWEAK", b"w": b"?\tWEAK", b"v": b"?\tWEAK",
                  b"u": b"?\tUNIQUE", b"?": b"?\t?"}
#: name pos count letter type bind size section value file exported late
_LINE = {
    "vmlinux": b"%s\t%d\t%d\t%s\t%s\t%d\t%s\t%016x\t%s\t%s\t%s\n",
    "module": b"%s\t%d\t%d\t%s\t%s\t%d\t%s\t%x\t%s\t%s\t%s\n",
    "map": b"%s\t%d\t%d\t%s\t%s\t%s\t%s\t%016x\t%s\t%s\t%s\n",  # System.map: no sizes
}


def encode_object(obj: ObjectSymbols) -> EncodedObject:
    """The klp-format lines of one object, and its index keys."""
    if not _TYPE_BIND:
        _TYPE_BIND.extend(_type_bind())
    pos, count, repeated = obj.positions()
    names = escape_all(obj.names)
    n = len(names)
    if obj.infos is not None and obj.sizes is not None:
        type_bind = _TYPE_BIND
        types = [type_bind[i & 255] for i in obj.infos]
        sizes: list[int] | list[bytes] = obj.sizes
        line = _LINE["vmlinux" if obj.kind == "vmlinux" else "module"]
    else:  # System.map: nm's letter tells only the binding
        types = [_MAP_TYPE_BIND.get(c, b"?\tGLOBAL" if c.isupper() else b"?\tLOCAL")
                 for c in obj.letters]
        sizes = [b"?"] * n
        line = _LINE["map"]
    exported = obj.exported
    flags = [b"E" if name in exported else b"-" for name in obj.names] if exported else [b"-"] * n
    late = [b"-"] * n
    for row, (lp, lc) in obj.late.items():
        if (lp, lc) != (pos[row], count[row]):
            late[row] = b"%d/%d" % (lp, lc)
    head = b"*%s\n" % escape(encode_name(obj.name)) + b"".join(
        _meta_lines({"path": obj.label, **obj.meta}, first=("path",)))
    lines = [line % row for row in zip(names, pos, count, obj.letters, types, sizes,
                                       escape_all(obj.sections), obj.values,
                                       escape_all(obj.files), flags, late, strict=True)]
    offsets = accumulate(map(len, lines), initial=len(head))
    keys = array("Q", [(c >> 8) << _OFFSET_BITS | o
                       for c, o in zip(map(zlib.crc32, names), offsets, strict=False)])
    return EncodedObject(
        name=obj.name, label=obj.label, kind=obj.kind, arch=obj.arch, meta=dict(obj.meta),
        chunk=head + b"".join(lines), keys=keys.tobytes(), symbols=n, repeated=repeated,
        load_order=n - late.count(b"-"),
    )


def _big_endian_hex(values: array[int], width: int) -> bytes:
    """Fixed-width hex lines, one per value, made at C speed."""
    if not values:
        return b""
    if sys.byteorder == "little":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes().hex("\n", width).encode() + b"\n"


def index_bits(entries: int) -> int:
    """Hash buckets of the index: about 16 entries per bucket, 2**4 to 2**20 buckets."""
    return max(4, min(20, (entries // 16).bit_length()))


class Assembler:
    """Builds the klp-format file object by object, so the parent process can index
    each object as soon as it arrives (while workers still scan the others).

    Offsets in the index are relative to the first object; the ``#index`` line
    records where that is, because the header (counts, identity) comes last.
    """

    def __init__(self, expected_entries: int) -> None:
        self.bits = index_bits(expected_entries)
        # arrays, not lists: appending converts each key once, and finish() joins bytes
        self.buckets = [array("Q") for _ in range(1 << self.bits)]
        self._append = [b.append for b in self.buckets]
        self.parts: list[bytes] = []
        self.starts = array("Q")
        self.pos = 0
        self.entries = 0
        self.objects: list[EncodedObject] = []

    def add(self, o: EncodedObject) -> None:
        pos = self.pos
        self.starts.append(pos)
        keys = array("Q")
        keys.frombytes(o.keys)
        shift = 64 - self.bits  # a key's top bits (its CRC's) pick the bucket
        append = self._append
        for k in keys:
            append[k >> shift](k + pos)
        self.entries += len(keys)
        self.parts.append(o.chunk)
        self.pos = pos + len(o.chunk)
        if self.pos > _OFFSET_MASK:
            raise InputError("symbol database larger than 1 TiB")
        o.chunk = o.keys = b""  # the parts list holds the bytes now
        self.objects.append(o)

    def finish(self, meta: dict[str, str]) -> bytes:
        head = HEADER + b"\n" + b"".join(_meta_lines(meta, first=("generator",)))
        bits = self.bits
        buckets = self.buckets
        if index_bits(self.entries) < bits - 1:  # far fewer symbols than expected
            bits = index_bits(self.entries)
            merge = 1 << (self.bits - bits)
            buckets = [array("Q", b"".join(b.tobytes() for b in buckets[i : i + merge]))
                       for i in range(0, len(buckets), merge)]
        directory = array("I", accumulate(map(len, buckets), initial=0))
        entries = array("Q", b"".join([b.tobytes() for b in buckets]))
        body_end = len(head) + self.pos
        index = b"#index\t%d\t%d\t%d\t%d\n" % (bits, len(self.starts), self.entries,
                                                  len(head))
        return b"".join([head, *self.parts, index, _big_endian_hex(self.starts, 8),
                         _big_endian_hex(directory, 4), _big_endian_hex(entries, 8),
                         b"#end\t%016x\n" % body_end])


def assemble(meta: dict[str, str], objects: list[EncodedObject]) -> bytes:
    """The whole klp-format file: header, objects in the given order, index, trailer."""
    asm = Assembler(sum(len(o.keys) // 8 for o in objects))
    for o in objects:
        asm.add(o)
    return asm.finish(meta)


#: The index is sized for the symbols expected (and shrunk if far fewer come).
WRITER = Writer(encode_object, Assembler)


# -- reading -------------------------------------------------------------------------

#: The writer's hex digits; int(x, 16) would also take signs, blanks, "_" and "0x".
_HEX_DIGITS = b"0123456789abcdef"
#: ``#end<TAB>`` and a 16-digit offset line.
_TRAILER = len(b"#end\t") + _ENTRY
_INDEX_LINE = re.compile(rb"#index\t([0-9]{1,2})\t([0-9]{1,12})\t([0-9]{1,12})\t([0-9]{1,13})")
#: A key keeps the top 24 bits of the CRC, so buckets can use at most those.
_MAX_BITS = 64 - _OFFSET_BITS
#: The array type of the numbers on hex lines of each width (as the writer makes them).
_WORDS = {8: "I", 16: "Q"}


def _hex(raw: bytes) -> int | None:
    """A number in the writer's lowercase hex, or None for anything else."""
    if not raw or raw.translate(None, _HEX_DIGITS):
        return None
    return int(raw, 16)


def _decimal(raw: bytes) -> int:
    """A decimal field of a symbol line: ASCII digits (int() takes more) of a 64-bit
    number (st_size is one, and positions are fewer); else ValueError."""
    if not raw.isdigit() or len(raw) > 20 or int(raw) >> 64:
        raise ValueError(raw)
    return int(raw)


class KlpReader(Reader):
    """Our file, read through its index: looking up a handful of names reads a few
    hundred bytes. Opening checks the trailer, the ``#index`` line, that the index
    tables fill the rest of the file exactly, and the header lines; a lookup checks
    every index line and symbol line it reads, and that the records it returns give
    each object exactly the positions 1..count."""

    dialect = Dialect.KLP
    positions_exact = True

    def __init__(self, path: str, data: bytes | mmap.mmap, remedy: str) -> None:
        """Check the frame of the index: #end points at an ``#index`` line whose counts
        make the tables end exactly at #end, the bucket directory spans the entries,
        the object table starts at the first object. The header lines are read."""
        super().__init__(path, data, remedy)
        trailer = len(data) - _TRAILER
        if trailer <= len(HEADER) or data[trailer - 1 : trailer + 5] != b"\n#end\t":
            raise self.damaged("no #end line at the end", max(trailer, 0))
        index = self._hex_line(trailer + 5, 16, "the #end line")
        line_end = data.find(b"\n", index, trailer) if len(HEADER) < index < trailer else -1
        found = _INDEX_LINE.fullmatch(data[index:line_end]) if line_end > 0 else None
        if found is None or data[index - 1 : index] != b"\n":
            raise self.damaged(f"#end points at offset {index}, not at the #index line",
                               trailer)
        bits, self._nobjects, self._nentries, base = map(int, found.groups())
        self._bits, self._base, self._end = bits, base, index
        if bits > _MAX_BITS:
            raise self.damaged(f"{bits} bucket bits in the #index line (at most "
                               f"{_MAX_BITS})", index)
        self._starts_at = line_end + 1
        self._buckets_at = self._starts_at + self._nobjects * _ENTRY
        self._entries_at = self._buckets_at + ((1 << bits) + 1) * _BUCKET
        if self._entries_at + self._nentries * _ENTRY != trailer:
            raise self.damaged(f"the #index line's {self._nobjects} objects, "
                               f"{self._nentries} entries and {1 << bits} buckets do not "
                               "fill the index", index)
        objects_start = data[base : base + 1] == b"*" if self._nobjects else base == index
        if not len(HEADER) < base <= index or data[base - 1 : base] != b"\n" \
                or not objects_start:
            raise self.damaged(f"the first object's offset {base} in the #index line is "
                               "not where the objects start", index)
        if self._nobjects and self._hex_line(self._starts_at, 16, "the object table") != 0:
            raise self.damaged("the object table does not start at the first object",
                               self._starts_at)
        if self._hex_line(self._buckets_at, 8, "the bucket directory") != 0:
            raise self.damaged("the bucket directory does not start at 0", self._buckets_at)
        last = self._entries_at - _BUCKET
        if self._hex_line(last, 8, "the bucket directory") != self._nentries:
            raise self.damaged(f"the bucket directory does not end at the {self._nentries} "
                               "entries", last)
        self._starts: Sequence[int] | None = None
        pos = len(HEADER) + 1
        while pos < base:
            end = data.find(b"\n", pos, base)
            key, tab, value = bytes(data[pos + 1 : end]).partition(b"\t")
            if data[pos : pos + 1] != b"%" or not tab:
                raise self.damaged("a header line that is not %key<TAB>value", pos)
            self.meta[decode_name(unescape(key))] = decode_name(unescape(value))
            pos = end + 1

    def _hex_line(self, at: int, width: int, what: str) -> int:
        """The number on the fixed-width hex line of the index at ``at``."""
        raw = self.data[at : at + width + 1]
        value = _hex(raw[:width]) if raw[width:] == b"\n" else None
        if value is None:
            raise self.damaged(f"{what} is not a line of {width} hex digits", at)
        return value

    def _hex_lines(self, at: int, count: int, width: int, what: str, first: int = 0
                   ) -> array[int]:
        """``count`` fixed-width hex lines from ``at`` (numbered from ``first`` in
        errors), checked in one pass at C speed."""
        size = width + 1
        raw = bytes(self.data[at : at + count * size])
        if (len(raw) != count * size or raw.count(b"\n") != count
                or raw[width::size] != b"\n" * count or raw.translate(None, _HEX_DIGITS + b"\n")):
            for i in range(count):  # name the first bad line
                self._hex_line(at + i * size, width, f"{what} {first + i}")
        values = array(_WORDS[width], bytes.fromhex(raw.translate(None, b"\n").decode()))
        if sys.byteorder == "little":
            values.byteswap()
        return values

    # -- objects ---------------------------------------------------------------------

    def object_starts(self) -> Sequence[int]:
        """The index's object table, checked for form, range and order (each start is
        checked to be a ``*`` line when used)."""
        if self._starts is None:
            at = self._starts_at
            starts = self._hex_lines(at, self._nobjects, 16, "object")
            end = self._end - self._base
            if not all(map(operator.lt, starts, starts[1:])) or (starts and starts[-1] >= end):
                bad = next(i for i, start in enumerate(starts)
                           if start >= end or (i and start <= starts[i - 1]))
                raise self.damaged(f"object {bad} at offset {starts[bad] + self._base} is "
                                   "out of order or past the objects", at + bad * _ENTRY)
            self._starts = starts
        return self._starts

    def listed_at(self, i: int) -> int:
        return self._starts_at + i * _ENTRY

    def name_text(self, raw: bytes) -> str:
        return decode_name(unescape(raw))

    # -- lookups ---------------------------------------------------------------------

    def _bucket_keys(self, bucket: int) -> tuple[int, Sequence[int]]:
        """The first entry and the keys of one bucket. The directory gives its range; the
        entries just outside it must belong to the buckets before and after, and those in
        it to this one, so no entry of the bucket is left out."""
        at = self._buckets_at + bucket * _BUCKET
        lo, hi = self._hex_lines(at, 2, 8, "bucket", bucket)
        if not lo <= hi <= self._nentries:
            raise self.damaged(f"bucket {bucket} spans entries {lo} to {hi} of "
                               f"{self._nentries}", at)
        first, last = max(lo - 1, 0), min(hi + 1, self._nentries)
        keys = self._hex_lines(self._entries_at + first * _ENTRY, last - first, 16,
                               "index entry", first)
        owners = [key >> (64 - self._bits) for key in keys]
        inside = owners[lo - first : hi - first]
        if ((lo and owners[0] >= bucket) or (hi < self._nentries and owners[-1] <= bucket)
                or inside.count(bucket) != len(inside)):
            raise self.damaged(f"bucket {bucket}: entries {lo} to {hi} are not the entries "
                               "of its hashes", at)
        return lo, keys[lo - first : hi - first]

    def records(self, raw: bytes) -> list[SymbolRecord]:
        """The records of one name, found by its escaped form. Every entry of its bucket
        is checked, not only those with the name's hash: an entry whose hash bits were
        damaged would otherwise hide its line, and with it maybe the only definition of
        a name in an object. Each must point at the start of a symbol line whose name
        has the entry's hash, and at a line no other entry of the bucket points at."""
        raw = escape(raw)
        data, base, index = self.data, self._base, self._end
        crc = zlib.crc32(raw)
        lo, keys = self._bucket_keys(crc >> (32 - self._bits))
        want = crc >> 8
        key_prefix = raw + b"\t"
        found: list[tuple[int, SymbolRecord]] = []
        seen: set[int] = set()
        for e, key in enumerate(keys, lo):
            offset = (key & _OFFSET_MASK) + base
            end = data.find(b"\n", offset, index) if base < offset < index else -1
            line = data[offset:end] if end >= 0 else b""
            tab = line.find(b"\t")
            if (tab < 0 or data[offset - 1 : offset] != b"\n" or line[:1] in LINE_MARKERS
                    or zlib.crc32(line[:tab]) >> 8 != key >> _OFFSET_BITS or offset in seen):
                raise self.damaged(f"index entry {e} points at offset {offset}, which is not "
                                   "a symbol line of a name with its hash, or is another "
                                   "entry's line", self._entries_at + e * _ENTRY)
            seen.add(offset)
            if key >> _OFFSET_BITS == want and line.startswith(key_prefix):
                found.append((offset, self._parse(line, self.object_at(offset), offset)))
        self._check_complete(found)
        return [record for _, record in found]

    def _check_complete(self, found: list[tuple[int, SymbolRecord]]) -> None:
        """The records of one name must be in file order (the index files a name's
        entries so) and give each object the positions 1..count exactly (kallsyms
        counts every same-named symbol of an object, so a missing or repeated one would
        shift every position), with late positions rising within one late count."""
        by_object: dict[str, list[tuple[int, SymbolRecord]]] = {}
        previous = -1
        for offset, record in found:
            if offset < previous:
                raise self.damaged(f"the index lists {record.name} out of file order", offset)
            previous = offset
            by_object.setdefault(record.obj, []).append((offset, record))
        for records in by_object.values():
            first = records[0][1]
            late = [r.late_pos for _, r in records]
            if ([r.pos for _, r in records] != list(range(1, len(records) + 1))
                    or len(records) != first.count or first.late_count < first.count
                    or any((r.count, r.late_count) != (first.count, first.late_count)
                           for _, r in records)
                    or any(a >= b for a, b in pairwise(late))):
                raise self.damaged(
                    f"the records of {first.name} in {first.obj} have the positions "
                    f"{', '.join(f'{r.pos}/{r.count}' for _, r in records)}",
                    records[0][0])

    def _parse(self, line: bytes, obj: str, offset: int) -> SymbolRecord:
        f = line.split(b"\t")
        if len(f) != _FIELDS:
            raise self.damaged(f"a symbol line of {len(f)} fields", offset)
        try:
            pos, count = _decimal(f[1]), _decimal(f[2])
            late = [_decimal(n) for n in f[11].split(b"/")] if f[11] != b"-" else [pos, count]
            value = None if f[8] == b"?" or len(f[8]) > 16 else _hex(f[8])  # 64-bit
            if (len(late) != 2 or not 1 <= pos <= count or not 1 <= late[0] <= late[1]
                    or f[10] not in (b"E", b"-") or (value is None and f[8] != b"?")):
                raise ValueError(line)
            return SymbolRecord(
                name=decode_name(unescape(f[0])), obj=obj, pos=pos, count=count,
                letter=decode_name(f[3]), type=decode_name(f[4]), bind=decode_name(f[5]),
                size=None if f[6] == b"?" else _decimal(f[6]),
                section=decode_name(unescape(f[7])), value=value, file=decode_name(unescape(f[9])),
                exported=f[10] == b"E", late_pos=late[0], late_count=late[1])
        except (ValueError, IndexError):
            raise self.damaged("a malformed symbol line", offset) from None

    # -- whole-file views --------------------------------------------------------------

    def names(self, low: int, high: int) -> set[str]:
        # a symbol line starts with its escaped name (object and meta lines with '*', '%'
        # or '#'), then a tab: found in C, lengths included
        line = re.compile(rb"\n([^\t\n*%%#][^\t\n]{%d,%d})\t" % (max(low - 1, 0),
                                                                   max(high - 1, 0)))
        return {decode_name(unescape(n))
                for n in set(line.findall(self.data, max(self._base - 1, 0), self._end))}

    def object_records(self, i: int) -> list[SymbolRecord]:
        """The symbol lines of one object (after its ``*`` and ``%`` lines)."""
        obj = self.object_name(i)
        start, end = self.object_span(i)
        block = bytes(self.data[start:end])
        pos = block.find(b"\n") + 1
        while block[pos : pos + 1] == b"%":
            pos = block.find(b"\n", pos) + 1
        by_name: dict[bytes, list[tuple[int, SymbolRecord]]] = {}
        records = []
        for line in block[pos:-1].split(b"\n") if pos < len(block) else []:
            if line[:1] in LINE_MARKERS:
                raise self.damaged("a marker line among the symbol lines", start + pos)
            record = self._parse(line, obj, start + pos)
            by_name.setdefault(line[: line.find(b"\t")], []).append((start + pos, record))
            records.append(record)
            pos += len(line) + 1
        for found in by_name.values():
            self._check_complete(found)
        return records
