"""The upstream klp-convert proposal's dialect, ``klp-convert-symbol-data.0.1``: its
header line, then per object a ``*<object>`` line and bare names, one a line; no
escapes, no index, no identity (docs/symbols-klp.md, "Upstream format").

klp-convert reads it with getline(): a line that starts with ``*`` names an object,
every other line is one name, verbatim but for its newline. klp writes and reads it
the same way.
"""

from __future__ import annotations

import mmap
from collections import Counter
from collections.abc import Iterator, Sequence

from klp.elfcodec.strings import decode_name, encode_name
from klp.errors import InputError
from klp.symdb.format.common import EncodedObject, Reader, Writer
from klp.symdb.model import KSYMTAB_PREFIX, Dialect, ObjectSymbols, SymbolRecord

UPSTREAM_HEADER = b"klp-convert-symbol-data.0.1"


def encode_object_upstream(obj: ObjectSymbols) -> EncodedObject:
    """The upstream v0.1 lines of one object: bare names in position order, and a
    ``__ksymtab_<name>`` line for each export that has none yet.

    A name is written as it is, so one with a newline or a leading ``*`` is refused:
    it would read back as other names or as an object."""
    names = obj.names
    have = set(names)
    extra = sorted(KSYMTAB_PREFIX + n for n in obj.exported if KSYMTAB_PREFIX + n not in have)
    object_name = encode_name(obj.name)
    lines = [*names, *extra]
    body = b"\n".join(lines)
    if body.count(b"\n") != len(lines) - 1 or b"\n*" in body or body[:1] == b"*":
        bad = next(n for n in lines if b"\n" in n or n[:1] == b"*")
        raise InputError(f"{obj.name} ({obj.label}): the symbol {decode_name(bad)!r} cannot be "
                         "written in the klp-convert-0.1 format, whose lines are bare names "
                         "(a newline or a leading '*' would read back as other lines); "
                         "use --format klp")
    if b"\n" in object_name:
        raise InputError(f"{obj.name!r} ({obj.label}): an object name with a newline cannot "
                         "be written in the klp-convert-0.1 format; use --format klp")
    chunk = b"*%s\n%s" % (object_name, body + b"\n" if lines else b"")
    return EncodedObject(
        name=obj.name, label=obj.label, kind=obj.kind, arch=obj.arch, meta=dict(obj.meta),
        chunk=chunk, keys=b"", symbols=len(names), repeated=obj.positions()[2], load_order=0)


class UpstreamAssembler:
    """The v0.1 file: the header line, then the objects' chunks."""

    def __init__(self) -> None:
        self.parts: list[bytes] = [UPSTREAM_HEADER + b"\n"]
        self.objects: list[EncodedObject] = []

    def add(self, o: EncodedObject) -> None:
        self.parts.append(o.chunk)
        o.chunk = b""
        self.objects.append(o)

    def finish(self, meta: dict[str, str]) -> bytes:
        return b"".join(self.parts)


#: The file has no index to size for the symbols expected.
WRITER = Writer(encode_object_upstream, lambda expected: UpstreamAssembler())


class UpstreamReader(Reader):
    """A v0.1 file: its objects are found by their ``*`` lines on opening, a lookup
    scans the file for the lines that are exactly the name, and a position is only the
    name's rank in the file's order."""

    dialect = Dialect.UPSTREAM
    positions_exact = False  # the order is whatever made it (the recipe's nm sorts by name)

    def __init__(self, path: str, data: bytes | mmap.mmap, remedy: str) -> None:
        super().__init__(path, data, remedy)
        starts = []
        pos = data.find(b"\n*")
        while pos >= 0:
            starts.append(pos + 1)
            pos = data.find(b"\n*", pos + 1)
        self._starts = starts
        self._base = 0
        self._end = len(data)
        first_line_end = data.find(b"\n")
        body = starts[0] if starts else len(data)
        if first_line_end >= 0 and data[first_line_end + 1 : body].strip():
            raise self.damaged("a symbol line before the first *object line",
                               first_line_end + 1)
        # The kernel loads one module of a name. Two blocks of one name (the upstream
        # recipe's *$(basename) can make them) would count positions over both.
        seen: dict[str, int] = {}
        for i, start in enumerate(starts):
            name = self.object_name(i)
            if name in seen:
                raise self.damaged(f"a second *{name} line (the first is at offset "
                                   f"{seen[name]})", start)
            seen[name] = start

    def object_starts(self) -> Sequence[int]:
        return self._starts

    def listed_at(self, i: int) -> int:
        return self._starts[i]  # no table lists them: each was found at its line

    def name_text(self, raw: bytes) -> str:
        return decode_name(raw)

    def _lines(self, key: bytes) -> Iterator[int]:
        """Offsets of the lines that are exactly ``key`` in some object (its last line
        may lack the newline)."""
        data = self.data
        if b"\n" in key or key[:1] == b"*" or not self._starts:
            return
        needle = b"\n" + key + b"\n"
        pos = data.find(needle, self._starts[0])
        while pos >= 0:
            yield pos + 1
            pos = data.find(needle, pos + 1)
        last = data.rfind(b"\n") + 1
        if last < len(data) and data[last:] == key and last > self._starts[0]:
            yield last

    def records(self, raw: bytes) -> list[SymbolRecord]:
        """The name's lines, and exported where its object has a ``__ksymtab_`` line."""
        hits: dict[str, list[int]] = {}
        for offset in self._lines(raw):
            hits.setdefault(self.object_at(offset), []).append(offset)
        exported = {self.object_at(o) for o in self._lines(KSYMTAB_PREFIX + raw)}
        name = decode_name(raw)
        return [
            SymbolRecord(name=name, obj=obj, pos=i, count=len(offsets), letter="?", type="?",
                         bind="?", size=None, section="", value=None, file="",
                         exported=obj in exported, late_pos=i, late_count=len(offsets))
            for obj, offsets in hits.items() for i in range(1, len(offsets) + 1)
        ]

    def _names_of(self, i: int) -> list[bytes]:
        """The name lines of object ``i``."""
        start, end = self.object_span(i)
        block = bytes(self.data[start:end])
        lines = block.split(b"\n")[1:]
        if lines and not lines[-1]:  # the newline that ends the last line
            lines.pop()
        return lines

    def names(self, low: int, high: int) -> set[str]:
        return {decode_name(n) for i in range(len(self._starts)) for n in self._names_of(i)
                if low <= len(n) <= high}

    def object_records(self, i: int) -> Iterator[SymbolRecord]:
        obj = self.object_name(i)
        names = self._names_of(i)
        total = Counter(names)
        seen: Counter[bytes] = Counter()
        for ln in names:
            seen[ln] += 1
            yield SymbolRecord(
                name=decode_name(ln), obj=obj, pos=seen[ln], count=total[ln], letter="?",
                type="?", bind="?", size=None, section="", value=None, file="",
                exported=KSYMTAB_PREFIX + ln in total, late_pos=seen[ln],
                late_count=total[ln])
