"""What both dialects of symbols.klp share: escaping and text, what a scan worker
sends and the assembler takes, the file's identity lines, and the reader's object
table (in both, each object starts with a ``*<object>`` line)."""

from __future__ import annotations

import bisect
import mmap
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, Protocol

from klp.errors import InputError
from klp.symdb.model import Dialect, ObjectSymbols, SymbolRecord

_ESCAPES = {b"\\": b"\\\\", b"\t": b"\\t", b"\n": b"\\n", b"\r": b"\\r"}
_UNESCAPES = {b"\\": b"\\", b"t": b"\t", b"n": b"\n", b"r": b"\r"}
_MARKERS = (b"*", b"%", b"#", b"\\")
#: First bytes of the lines that are not symbol lines (an escaped name never has them).
LINE_MARKERS = (b"*", b"%", b"#")


def _needs_escape(joined: bytes) -> bool:
    """Does any of the NUL-joined fields need escaping? (memchr-speed tests only)"""
    return (b"\t" in joined or b"\n" in joined or b"\r" in joined or b"\\" in joined
            or b"\0*" in joined or b"\0%" in joined or b"\0#" in joined
            or joined[:1] in _MARKERS)


def escape(raw: bytes) -> bytes:
    """A field as written: tab, newline, CR and backslash escaped; a leading ``*``, ``%``
    or ``#`` (which would read as a marker) gets a backslash."""
    if _needs_escape(raw):
        raw = re.sub(rb"[\t\n\r\\]", lambda m: _ESCAPES[m.group()], raw)
        if raw[:1] in LINE_MARKERS:
            raw = b"\\" + raw
    return raw


def unescape(field: bytes) -> bytes:
    if b"\\" not in field:
        return field
    return re.sub(rb"\\(.)", lambda m: _UNESCAPES.get(m.group(1), m.group(1)), field,
                  flags=re.S)


def escape_all(values: list[bytes]) -> list[bytes]:
    """Escape a column, at C speed when (as always in practice) nothing needs it."""
    unique = set(values)
    if not _needs_escape(b"\0".join(unique)):
        return values
    done = {v: escape(v) for v in unique}
    return [done[v] for v in values]


# -- writing -------------------------------------------------------------------------


class EncodedObject:
    """One object's part of the file, made in a scan worker: cheap to send and join
    (the assembler empties ``chunk`` and ``keys`` once it holds their bytes)."""

    __slots__ = ("arch", "chunk", "keys", "kind", "label", "load_order", "meta", "name",
                 "repeated", "symbols")

    def __init__(self, *, name: str, label: str, kind: str, arch: str, meta: dict[str, str],
                 chunk: bytes, keys: bytes, symbols: int, repeated: int, load_order: int
                 ) -> None:
        self.name = name
        self.label = label
        self.kind = kind
        self.arch = arch
        self.meta = meta
        self.chunk = chunk  #: the ``*object`` line, its ``%`` lines and its symbol lines
        self.keys = keys  #: array('Q'): index keys with offsets relative to ``chunk``
        self.symbols = symbols
        self.repeated = repeated  #: names that occur more than once in this object
        self.load_order = load_order  #: symbols whose late (full symtab) position differs


def header_meta(objects: list[EncodedObject], source: str) -> dict[str, str]:
    """Kernel identity for the whole file: arch, release, build ID, common vermagic."""
    from klp import __version__

    vmlinux = next((o for o in objects if o.kind == "vmlinux"), None)
    vermagics: dict[str, int] = {}
    for o in objects:
        if o.meta.get("vermagic"):
            vermagics[o.meta["vermagic"]] = vermagics.get(o.meta["vermagic"], 0) + 1
    vermagic = min(vermagics, key=lambda v: (-vermagics[v], v)) if vermagics else ""
    release = vmlinux.meta.get("release", "") if vmlinux else ""
    meta = {
        "generator": f"klp {__version__}",
        "arch": next((o.arch for o in objects if o.arch), ""),
        "release": release or vermagic.split(" ", 1)[0],
        "build-id": vmlinux.meta.get("build-id", "") if vmlinux else "",
        "vermagic": vermagic,
        "vmlinux": source,
        "objects": str(len(objects)),
        "symbols": str(sum(o.symbols for o in objects)),
    }
    return {k: v for k, v in meta.items() if v}


class FileAssembler(Protocol):
    """Joins the encoded objects, in input order, into one file."""

    objects: list[EncodedObject]

    def add(self, o: EncodedObject) -> None: ...

    def finish(self, meta: dict[str, str]) -> bytes: ...


class Writer:
    """How ``klp symdb build`` writes a dialect: workers encode the objects, the parent
    adds them to an assembler made for the number of symbols it expects. (A plain
    class: every command imports it, and a NamedTuple takes longer to make.)"""

    __slots__ = ("assembler", "encode")

    def __init__(self, encode: Callable[[ObjectSymbols], EncodedObject],
                 assembler: Callable[[int], FileAssembler]) -> None:
        self.encode = encode
        self.assembler = assembler


# -- reading -------------------------------------------------------------------------


class Reader(ABC):
    """One dialect's reading of a mapped file: what :class:`klp.symdb.format.SymbolDB`
    asks of it. The object table is shared; each dialect finds where its objects start,
    decodes their names and reads their symbols in its own way, checking what it reads."""

    dialect: ClassVar[Dialect]
    #: Positions are the kernel's, not only the file's order.
    positions_exact: ClassVar[bool]
    #: The object starts count from ``_base``; the objects end at ``_end``.
    _base: int
    _end: int

    def __init__(self, path: str, data: bytes | mmap.mmap, remedy: str) -> None:
        self.path = path
        self.data = data
        self.remedy = remedy  #: what a damaged file's error tells the user to do
        self.meta: dict[str, str] = {}
        self._object_names: dict[int, str] = {}
        self._object_index: dict[str, int] = {}  #: the first index of each name read
        self._listed = 0  #: the names of objects 0.._listed-1 are all read

    def damaged(self, what: str, offset: int) -> InputError:
        return InputError(f"{self.path}: damaged symbols.klp ({what} at offset {offset}); "
                          f"{self.remedy}")

    # -- what each dialect does its own way

    @abstractmethod
    def object_starts(self) -> Sequence[int]:
        """The offsets of the ``*`` lines from the base, in file order."""

    @abstractmethod
    def listed_at(self, i: int) -> int:
        """Where the file says object ``i`` starts (the offset an error names)."""

    @abstractmethod
    def name_text(self, raw: bytes) -> str:
        """An object's name as its ``*`` line holds it."""

    @abstractmethod
    def records(self, raw: bytes) -> list[SymbolRecord]:
        """Every definition of one name, in file order (object, then position)."""

    @abstractmethod
    def names(self, low: int, high: int) -> set[str]:
        """Every symbol name whose stored length is in ``low..high`` (reads it all)."""

    @abstractmethod
    def object_records(self, i: int) -> Iterable[SymbolRecord]:
        """Object ``i``'s records in file order, checked as a lookup checks a name's."""

    # -- the object table

    def object_span(self, i: int) -> tuple[int, int]:
        """Where object ``i``'s lines start and end."""
        starts = self.object_starts()
        end = starts[i + 1] + self._base if i + 1 < len(starts) else self._end
        return starts[i] + self._base, end

    def object_name(self, i: int) -> str:
        """The name on object ``i``'s ``*`` line."""
        name = self._object_names.get(i)
        return name if name is not None else self._read_name(i, *self.object_span(i))

    def object_names(self) -> list[str]:
        """Every object's name, in file order, in one pass over the object table (a
        distro kernel has 4,000 objects; convert and verify check theirs against it)."""
        base, read = self._base, self._object_names
        bounds = [*(start + base for start in self.object_starts()), self._end]
        names = [read[i] if i in read else self._read_name(i, bounds[i], bounds[i + 1])
                 for i in range(len(bounds) - 1)]
        self._listed = len(names)
        return names

    def find_object(self, name: str) -> int | None:
        """The index of an object named ``name``, None if there is none. Names are read
        in file order only as far as it: vmlinux, which most patches target, comes
        first."""
        found = self._object_index.get(name)
        count = len(self.object_starts())
        while found is None and self._listed < count:
            self._listed += 1
            if self.object_name(self._listed - 1) == name:
                found = self._listed - 1
        return found

    def _read_name(self, i: int, start: int, end: int) -> str:
        """Object ``i``'s name, read from its ``*`` line at ``start`` (lines end by
        ``end``), and kept."""
        data = self.data
        if data[start - 1 : start + 1] != b"\n*":
            raise self.damaged(f"object {i} at offset {start} is not a *object line",
                               self.listed_at(i))
        line_end = data.find(b"\n", start, end)
        name = self._object_names[i] = self.name_text(
            bytes(data[start + 1 : line_end if line_end >= 0 else end]))
        self._object_index.setdefault(name, i)
        return name

    def named_index(self, name: str) -> int | None:
        """The index of object ``name`` if a lookup or a listing has read its name
        already (finding it otherwise reads every name before it)."""
        return self._object_index.get(name)

    def object_at(self, offset: int) -> str:
        """The object whose lines hold ``offset``: the last start at or before it, and
        the next one checked too, so that the two bracket it."""
        starts = self.object_starts()
        i = bisect.bisect_right(starts, offset - self._base) - 1
        if i < 0:
            raise self.damaged("a symbol line before the first object", offset)
        if i + 1 < len(starts):
            self.object_name(i + 1)
        return self.object_name(i)
