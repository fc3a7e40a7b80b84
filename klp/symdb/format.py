"""symbols.klp: write it deterministically; look up a few names without reading it all.

The format is documented in docs/symbols-klp.md. In short: a header line
``klp-symbols 1``, ``%key<TAB>value`` metadata, then per object a ``*<object>``
line, its own ``%`` lines and one tab-separated line per symbol in position
order, then an index (fixed-width hex lines, so a reader can seek in it) and a
``#end`` line that points at the index. The reader also accepts the upstream
proposal's ``klp-convert-symbol-data.0.1`` (bare names, no index).
"""

from __future__ import annotations

import bisect
import mmap
import re
import sys
import zlib
from array import array
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING

from klp.errors import InputError
from klp.symdb.model import SymbolRecord

if TYPE_CHECKING:
    from klp.symdb.scan import ObjectSymbols

HEADER = b"klp-symbols 1"
UPSTREAM_HEADER = b"klp-convert-symbol-data.0.1"
#: ``--format`` values: ours, and the upstream proposal's.
FORMATS = ("klp", "klp-convert-0.1")

#: Index entry: the top 24 bits of the name's CRC-32, then a 40-bit line offset.
_OFFSET_BITS = 40
_OFFSET_MASK = (1 << _OFFSET_BITS) - 1
_ENTRY = 17  #: 16 hex digits and a newline
_BUCKET = 9  #: 8 hex digits and a newline
_FIELDS = 12  #: fields of a symbol line

_ESCAPES = {b"\\": b"\\\\", b"\t": b"\\t", b"\n": b"\\n", b"\r": b"\\r"}
_UNESCAPES = {b"\\": b"\\", b"t": b"\t", b"n": b"\n", b"r": b"\r"}
_MARKERS = (b"*", b"%", b"#", b"\\")


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
        if raw[:1] in (b"*", b"%", b"#"):
            raw = b"\\" + raw
    return raw


def unescape(field: bytes) -> bytes:
    if b"\\" not in field:
        return field
    return re.sub(rb"\\(.)", lambda m: _UNESCAPES.get(m.group(1), m.group(1)), field,
                  flags=re.S)


def _escape_all(values: list[bytes]) -> list[bytes]:
    """Escape a column, at C speed when (as always in practice) nothing needs it."""
    unique = set(values)
    if not _needs_escape(b"\0".join(unique)):
        return values
    done = {v: escape(v) for v in unique}
    return [done[v] for v in values]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


# -- writing -------------------------------------------------------------------------


@dataclass(slots=True)
class EncodedObject:
    """One object's part of the file, made in a scan worker: cheap to send and join."""

    name: str
    label: str
    kind: str
    arch: str
    meta: dict[str, str]
    chunk: bytes  #: the ``*object`` line, its ``%`` lines and its symbol lines
    keys: bytes  #: array('Q'): index keys with offsets relative to ``chunk``
    symbols: int
    repeated: int  #: names that occur more than once in this object
    load_order: int  #: symbols whose late (full symtab) position differs


def _meta_lines(meta: dict[str, str], first: tuple[str, ...] = ()) -> list[bytes]:
    keys = [k for k in first if k in meta] + sorted(k for k in meta if k not in first)
    return [b"%%%s\t%s\n" % (escape(k.encode()), escape(meta[k].encode("utf-8",
                                                                        "surrogateescape")))
            for k in keys]


def _type_bind() -> list[bytes]:
    from klp.symdb.scan import BIND_NAMES, TYPE_NAMES

    return [TYPE_NAMES[i & 15] + b"\t" + BIND_NAMES[i >> 4] for i in range(256)]


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
    names = _escape_all(obj.names)
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
    head = b"*%s\n" % escape(obj.name.encode("utf-8", "surrogateescape")) + b"".join(
        _meta_lines({"path": obj.label, **obj.meta}, first=("path",)))
    lines = [line % row for row in zip(names, pos, count, obj.letters, types, sizes,
                                       _escape_all(obj.sections), obj.values,
                                       _escape_all(obj.files), flags, late, strict=True)]
    offsets = accumulate(map(len, lines), initial=len(head))
    keys = array("Q", [(c >> 8) << _OFFSET_BITS | o
                       for c, o in zip(map(zlib.crc32, names), offsets, strict=False)])
    return EncodedObject(
        name=obj.name, label=obj.label, kind=obj.kind, arch=obj.arch, meta=dict(obj.meta),
        chunk=head + b"".join(lines), keys=keys.tobytes(), symbols=n, repeated=repeated,
        load_order=n - late.count(b"-"),
    )


def encode_object_upstream(obj: ObjectSymbols) -> EncodedObject:
    """The upstream v0.1 lines of one object: bare names in position order, and a
    ``__ksymtab_<name>`` line for each export that has none yet."""
    names = obj.names
    have = set(names)
    extra = sorted(b"__ksymtab_" + n for n in obj.exported if b"__ksymtab_" + n not in have)
    chunk = b"".join([b"*%s\n" % obj.name.encode("utf-8", "surrogateescape"),
                      *(n + b"\n" for n in names),
                      *(n + b"\n" for n in extra)])
    return EncodedObject(
        name=obj.name, label=obj.label, kind=obj.kind, arch=obj.arch, meta=dict(obj.meta),
        chunk=chunk, keys=b"", symbols=len(names), repeated=obj.positions()[2], load_order=0)


def _big_endian_hex(values: array[int], width: int) -> bytes:
    """Fixed-width hex lines, one per value, made at C speed."""
    if not values:
        return b""
    if sys.byteorder == "little":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes().hex("\n", width).encode() + b"\n"


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


def assemble(meta: dict[str, str], objects: list[EncodedObject]) -> bytes:
    """The whole klp-format file: header, objects in the given order, index, trailer."""
    asm = Assembler(sum(len(o.keys) // 8 for o in objects))
    for o in objects:
        asm.add(o)
    return asm.finish(meta)


# -- reading -------------------------------------------------------------------------


class SymbolDB:
    """A mapped symbols.klp (ours or upstream v0.1). Looking up a handful of names
    reads a few hundred bytes through the index; nothing is loaded up front."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                size = f.seek(0, 2)
                self.data: bytes | mmap.mmap = (
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
                )
        except OSError as e:
            raise InputError(f"{path}: {e.strerror or e}") from None
        first = bytes(self.data[:128]).split(b"\n", 1)[0]
        if first == HEADER:
            self.format = "klp"
        elif first.startswith(UPSTREAM_HEADER):  # upstream compares only this prefix
            self.format = "klp-convert-0.1"
        elif first.startswith(b"klp-symbols "):
            raise InputError(f"{path}: symbols.klp version {_text(first[12:])!r} is not "
                             "supported by this klp (it reads 'klp-symbols 1'); rebuild it")
        else:
            shown = f"first line {_text(first[:40])!r}" if first else "empty file"
            raise InputError(f"{path}: not a symbols.klp file ({shown}; expected "
                             f"{HEADER.decode()!r} or {UPSTREAM_HEADER.decode()!r})")
        self._names: dict[int, str] = {}
        self.meta: dict[str, str] = {}
        if self.format == "klp":
            self._open_index()
        else:
            self._open_upstream()

    @classmethod
    def open(cls, path: str) -> SymbolDB:
        return cls(path)

    def _damaged(self, what: str) -> InputError:
        return InputError(f"{self.path}: damaged symbols.klp ({what}); rebuild it")

    def _open_index(self) -> None:
        data = self.data
        tail = bytes(data[-40:])
        at = tail.rfind(b"\n#end\t")
        try:
            index = int(tail[at + 6 :].strip(), 16) if at >= 0 else -1
        except ValueError:
            index = -1
        line = bytes(data[index : data.find(b"\n", index)]) if index > 0 else b""
        parts = line.split(b"\t")
        if len(parts) != 5 or parts[0] != b"#index":
            raise self._damaged("no index at the end")
        try:
            self._bits, self._nobjects, self._nentries, self._base = (int(p) for p in parts[1:])
        except ValueError:
            raise self._damaged("bad #index line") from None
        if not (0 <= self._bits <= 32 and len(HEADER) < self._base <= index):
            raise self._damaged("bad #index line")
        self._index = index
        self._starts_at = index + len(line) + 1
        self._buckets_at = self._starts_at + self._nobjects * _ENTRY
        self._entries_at = self._buckets_at + ((1 << self._bits) + 1) * _BUCKET
        if self._entries_at + self._nentries * _ENTRY + len(b"#end\t") + 17 != len(data):
            raise self._damaged("index size does not match the file")
        self._starts: list[int] | None = None
        for line in bytes(data[len(HEADER) + 1 : self._base]).splitlines():
            if line.startswith(b"%"):
                key, _, value = line[1:].partition(b"\t")
                self.meta[_text(unescape(key))] = _text(unescape(value))

    def _open_upstream(self) -> None:
        data = self.data
        starts = []
        pos = data.find(b"\n*")
        while pos >= 0:
            starts.append(pos + 1)
            pos = data.find(b"\n*", pos + 1)
        self._starts = starts
        self._index = len(data)
        first_line_end = data.find(b"\n")
        body = starts[0] if starts else len(data)
        if first_line_end >= 0 and data[first_line_end + 1 : body].strip():
            raise self._damaged("a symbol line before the first *object line")

    # -- objects ---------------------------------------------------------------------

    def _object_starts(self) -> list[int]:
        if self._starts is None:
            raw = bytes(self.data[self._starts_at : self._buckets_at])
            self._starts = [int(x, 16) + self._base for x in raw.split()]
        return self._starts

    def _object_name(self, start: int) -> str:
        name = self._names.get(start)
        if name is None:
            end = self.data.find(b"\n", start)
            name = self._names[start] = _text(unescape(bytes(self.data[start + 1 : end])))
        return name

    def _object_at(self, offset: int) -> tuple[int, str]:
        starts = self._object_starts()
        i = bisect.bisect_right(starts, offset) - 1
        if i < 0:
            raise self._damaged(f"offset {offset} before the first object")
        return i, self._object_name(starts[i])

    def objects(self) -> list[str]:
        """Object names in file order: vmlinux first, then modules by name."""
        return [self._object_name(s) for s in self._object_starts()]

    def object_meta(self, obj: str) -> dict[str, str]:
        """An object's ``%`` lines: path, and release/build-id/banner (vmlinux) or
        vermagic/srcversion/build-id (modules)."""
        for start in self._object_starts():
            if self._object_name(start) == obj:
                found = {}
                pos = self.data.find(b"\n", start) + 1
                while self.data[pos : pos + 1] == b"%":
                    end = self.data.find(b"\n", pos)
                    key, _, value = bytes(self.data[pos + 1 : end]).partition(b"\t")
                    found[_text(unescape(key))] = _text(unescape(value))
                    pos = end + 1
                return found
        raise KeyError(obj)

    @property
    def kernel_release(self) -> str:
        """The kernel release (vmlinux's linux_banner, else the modules' vermagic)."""
        return self.meta.get("release", "")

    @property
    def build_id(self) -> str:
        """vmlinux's GNU build ID in hex ("" when built from System.map)."""
        return self.meta.get("build-id", "")

    @property
    def vermagic(self) -> str:
        """The vermagic most modules carry (what a livepatch module must match)."""
        return self.meta.get("vermagic", "")

    @property
    def arch(self) -> str:
        return self.meta.get("arch", "")

    @property
    def positions_exact(self) -> bool:
        """Positions are the kernel's (ours); a v0.1 file's order is whatever made it
        (the kernel recipe's nm sorts by name), so its positions are only file order."""
        return self.format == "klp"

    # -- lookups ---------------------------------------------------------------------

    def lookup(self, names: Iterable[str]) -> dict[str, list[SymbolRecord]]:
        """Every definition of each name, across all objects, in file order (object, then
        position). Names with no definition are left out."""
        found: dict[str, list[SymbolRecord]] = {}
        for name in dict.fromkeys(names):
            raw = escape(name.encode("utf-8", "surrogateescape"))
            records = (self._lookup_indexed(raw) if self.format == "klp"
                       else self._lookup_upstream(raw))
            if records:
                found[name] = records
        return found

    def _lookup_indexed(self, raw: bytes) -> list[SymbolRecord]:
        data = self.data
        crc = zlib.crc32(raw)
        bucket = crc >> (32 - self._bits)
        at = self._buckets_at + bucket * _BUCKET
        try:
            lo, hi = int(data[at : at + 8], 16), int(data[at + _BUCKET : at + _BUCKET + 8], 16)
        except ValueError:
            raise self._damaged("bad index bucket") from None
        want = crc >> 8
        key_prefix = raw + b"\t"
        out = []
        base = self._entries_at
        for e in range(lo, hi):
            key = int(data[base + e * _ENTRY : base + e * _ENTRY + 16], 16)
            if key >> _OFFSET_BITS != want:
                continue
            offset = (key & _OFFSET_MASK) + self._base
            if data[offset : offset + len(key_prefix)] != key_prefix:
                continue
            end = data.find(b"\n", offset)
            out.append(self._parse(bytes(data[offset:end]), self._object_at(offset)[1],
                                   offset))
        return out

    def _parse(self, line: bytes, obj: str, offset: int) -> SymbolRecord:
        f = line.split(b"\t")
        if len(f) != _FIELDS:
            raise self._damaged(f"line at offset {offset} has {len(f)} fields")
        try:
            late = f[11].split(b"/") if f[11] != b"-" else (f[1], f[2])
            return SymbolRecord(
                name=_text(unescape(f[0])), obj=obj, pos=int(f[1]), count=int(f[2]),
                letter=_text(f[3]), type=_text(f[4]), bind=_text(f[5]),
                size=None if f[6] == b"?" else int(f[6]), section=_text(unescape(f[7])),
                value=None if f[8] == b"?" else int(f[8], 16), file=_text(unescape(f[9])),
                exported=f[10] == b"E", late_pos=int(late[0]), late_count=int(late[1]))
        except (ValueError, IndexError):
            raise self._damaged(f"bad line at offset {offset}") from None

    def _upstream_lines(self, key: bytes) -> Iterator[int]:
        """Offsets of the lines that are exactly ``key`` (a v0.1 file has no index)."""
        data = self.data
        needle = b"\n" + key + b"\n"
        pos = data.find(needle)
        while pos >= 0:
            yield pos + 1
            pos = data.find(needle, pos + 1)

    def _lookup_upstream(self, raw: bytes) -> list[SymbolRecord]:
        hits: dict[str, list[int]] = {}
        for offset in self._upstream_lines(raw):
            hits.setdefault(self._object_at(offset)[1], []).append(offset)
        exported = {self._object_at(o)[1] for o in self._upstream_lines(b"__ksymtab_" + raw)}
        name = _text(unescape(raw))
        return [
            SymbolRecord(name=name, obj=obj, pos=i, count=len(offsets), letter="?", type="?",
                         bind="?", size=None, section="", value=None, file="",
                         exported=obj in exported, late_pos=i, late_count=len(offsets))
            for obj, offsets in hits.items() for i in range(1, len(offsets) + 1)
        ]

    def exported(self, name: str) -> bool:
        """vmlinux exports ``name``, so the module loader resolves it by itself."""
        return any(r.exported and r.obj == "vmlinux" for r in self.lookup([name]).get(name, []))

    def vmlinux_exports(self, names: Collection[str]) -> set[str]:
        """The subset of ``names`` that vmlinux exports."""
        return {n for n, recs in self.lookup(names).items()
                if any(r.exported and r.obj == "vmlinux" for r in recs)}

    # -- whole-file views (only for errors and tools) ----------------------------------

    def all_names(self) -> set[str]:
        """Every symbol name (reads the whole file: for "did you mean" hints only)."""
        data = self.data
        starts = self._object_starts()
        region = bytes(data[starts[0] if starts else 0 : self._index])
        if self.format == "klp":
            raw = re.findall(rb"^([^\t\n*%#][^\t\n]*)\t", region, re.M)
        else:
            raw = [n for n in region.split(b"\n") if n and n[:1] != b"*"]
        return {_text(unescape(n)) for n in raw}

    def closest(self, name: str, limit: int) -> list[str]:
        """Names that look like ``name``, best first (difflib ratio >= 0.75)."""
        import difflib

        n = len(name)
        candidates = [c for c in self.all_names() if abs(len(c) - n) <= max(3, n // 3)]
        return difflib.get_close_matches(name, candidates, n=limit, cutoff=0.75)

    def __iter__(self) -> Iterator[SymbolRecord]:
        """Every record in file order (slow: for tests and exports to other tools)."""
        data = self.data
        starts = self._object_starts()
        bounds = [*starts[1:], self._index] if starts else []
        for start, end in zip(starts, bounds, strict=True):
            obj = self._object_name(start)
            block = bytes(data[start:end])
            pos = block.find(b"\n") + 1
            if self.format != "klp":
                names = [ln for ln in block[pos:].split(b"\n") if ln]
                total = Counter(names)
                seen: Counter[bytes] = Counter()
                for ln in names:
                    seen[ln] += 1
                    yield SymbolRecord(_text(ln), obj, seen[ln], total[ln], "?", "?", "?",
                                       None, "", None, "", False, seen[ln], total[ln])
                continue
            for line in block[pos:].split(b"\n"):
                if line and line[:1] != b"%":
                    yield self._parse(line, obj, start)
