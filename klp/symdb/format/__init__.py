"""symbols.klp: write it deterministically; look up a few names without reading it all.

The format is documented in docs/symbols-klp.md. It has two dialects, one module
each: ``dialect_klp`` writes and reads ours (``klp-symbols 1``, with an index),
``dialect_upstream`` the upstream proposal's ``klp-convert-symbol-data.0.1`` (bare
names, no index); ``common`` holds what both share. Here a file is opened in its
dialect, and :class:`SymbolDB` answers every question through that dialect's
:class:`~klp.symdb.format.common.Reader`.
"""

from __future__ import annotations

import functools
import mmap
import re
from collections.abc import Collection, Iterable, Iterator

from klp.elfcodec.strings import decode_name, encode_name
from klp.errors import InputError
from klp.inputs import open_input
from klp.symdb import callsites, clones
from klp.symdb.format import dialect_klp, dialect_upstream
from klp.symdb.format.common import (
    EncodedObject,
    Reader,
    Writer,
    escape,
    header_meta,
    unescape,
)
from klp.symdb.format.dialect_klp import HEADER, Assembler, KlpReader, assemble, encode_object
from klp.symdb.format.dialect_upstream import (
    UPSTREAM_HEADER,
    UpstreamAssembler,
    UpstreamReader,
    encode_object_upstream,
)
from klp.symdb.model import Dialect, SharedRanges, SymbolRecord

__all__ = ["BUILTIN_KEY", "HEADER", "UPSTREAM_HEADER", "WRITERS", "Assembler", "EncodedObject",
           "SymbolDB", "UpstreamAssembler", "assemble", "encode_object", "encode_object_upstream",
           "escape", "header_meta", "open_reader", "unescape"]

#: The header key that lists the modules built into vmlinux (modules.builtin).
BUILTIN_KEY = "builtin"

#: How ``klp symdb build`` writes each dialect.
WRITERS: dict[Dialect, Writer] = {Dialect.KLP: dialect_klp.WRITER,
                                  Dialect.UPSTREAM: dialect_upstream.WRITER}


#: What an error about a damaged or outdated database tells the user to do.
REBUILD = "rebuild it"


def open_reader(path: str, data: bytes | None = None, remedy: str = REBUILD) -> Reader:
    """Map ``path`` (or take ``data``, a database held elsewhere, named ``path`` in
    errors) and read it in the dialect its first line names; refuse a file that cannot
    be read, of another version, or that is no symbols.klp (saying ``remedy`` where it
    is damaged)."""
    buffer: bytes | mmap.mmap = b""
    if data is not None:
        buffer = data
    else:
        try:
            with open_input(path) as f:
                if f.seek(0, 2):
                    buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as e:
            raise InputError(f"{path}: {e.strerror or e}") from None
    first = bytes(buffer[:128]).split(b"\n", 1)[0]
    if first == HEADER:
        return KlpReader(path, buffer, remedy)
    if first.startswith(UPSTREAM_HEADER):  # upstream compares only this prefix
        return UpstreamReader(path, buffer, remedy)
    if first.startswith(b"klp-symbols "):
        raise InputError(f"{path}: symbols.klp version {decode_name(first[12:])!r} is not "
                         f"supported by this klp (it reads 'klp-symbols 1'); {remedy}")
    shown = f"first line {decode_name(first[:40])!r}" if first else "empty file"
    raise InputError(f"{path}: not a symbols.klp file ({shown}; expected "
                     f"{HEADER.decode()!r} or {UPSTREAM_HEADER.decode()!r})")


class SymbolDB:
    """A mapped symbols.klp (ours or upstream v0.1), asked through its dialect's reader.
    Looking up a handful of names reads a few hundred bytes through the index; nothing
    is loaded up front.

    A damaged file is an :class:`InputError` naming an offset, never a wrong or
    partial answer: opening checks the file's frame, and every lookup what it reads
    (each dialect's reader says how).
    """

    def __init__(self, path: str, data: bytes | None = None, remedy: str = REBUILD) -> None:
        self._reader = reader = open_reader(path, data, remedy)
        self.path = path
        self.data = reader.data
        self.format = reader.dialect
        self.meta = reader.meta
        self._meta: dict[str, list[tuple[str, str, int]]] = {}  # by object, when read
        self._objects: list[str] | None = None
        self._names: list[str] | None = None  #: every name, once read
        self._joined: str | None = None  #: the same, one a line

    @classmethod
    def open(cls, path: str) -> SymbolDB:
        return cls(path)

    # -- objects ---------------------------------------------------------------------

    def objects(self) -> list[str]:
        """Object names in file order, vmlinux first. Read once, all of them (a few ms
        for a distro's 4,000 objects): to ask about one, :meth:`has_object`."""
        if self._objects is None:
            self._objects = self._reader.object_names()
        return list(self._objects)

    def has_object(self, name: str) -> bool:
        """Whether ``name`` is among :meth:`objects`, read only as far as it."""
        return self._reader.find_object(name) is not None

    def object_meta(self, obj: str) -> dict[str, str]:
        """An object's ``%`` lines: path, and release/build-id/banner (vmlinux) or
        vermagic/srcversion/build-id (modules)."""
        return {key: value for key, value, _ in self._meta_lines(obj)}

    def _meta_lines(self, obj: str) -> list[tuple[str, str, int]]:
        """An object's ``%`` lines as (key, value, offset), read once per object (verify
        asks for several keys of each)."""
        if obj in self._meta:
            return self._meta[obj]
        reader = self._reader
        named = reader.named_index(obj)
        for i in (named,) if named is not None else range(len(reader.object_starts())):
            if reader.object_name(i) == obj:
                start, end = reader.object_span(i)
                lines = []
                pos = self.data.find(b"\n", start, end) + 1
                while pos and self.data[pos : pos + 1] == b"%":
                    line_end = self.data.find(b"\n", pos, end)
                    if line_end < 0:
                        break
                    key, _, value = bytes(self.data[pos + 1 : line_end]).partition(b"\t")
                    lines.append((decode_name(unescape(key)), decode_name(unescape(value)), pos))
                    pos = line_end + 1
                self._meta[obj] = lines
                return lines
        raise KeyError(obj)

    def shared_call_sites(self, obj: str) -> SharedRanges | None:
        """``obj``'s kallsyms ranges that hold several ftrace call sites and none at their
        start (klp/symdb/callsites.py); None when the database has not read its call
        sites (System.map alone, the upstream dialect)."""
        lines = {key: (value, pos) for key, value, pos in self._meta_lines(obj)}
        if callsites.SITES_KEY not in lines:
            return None
        text, pos = lines.get(callsites.SHARED_KEY, ("", 0))
        try:
            return callsites.decode_shared(text)
        except ValueError:
            raise self._reader.damaged(f"{obj}'s {callsites.SHARED_KEY} line", pos) from None

    def compiler_clones(self, obj: str, functions: Collection[str]
                        ) -> dict[str, list[str]] | None:
        """The compiler clones ``obj`` has of each of ``functions`` (clones.py); None
        when the database has not recorded them (System.map, the upstream dialect)."""
        meta = self.object_meta(obj)
        if clones.CLONES_KEY not in meta:
            return None
        return clones.clones_by_function(meta[clones.CLONES_KEY].split(), functions)

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

    #: A database describes a build, not a running kernel (SymbolLookup.running).
    running = False

    @functools.cached_property
    def builtin_modules(self) -> frozenset[str]:
        """The modules built into vmlinux (the kernel's modules.builtin; empty when the
        build was not given it)."""
        return frozenset(self.meta.get(BUILTIN_KEY, "").split())

    @property
    def positions_exact(self) -> bool:
        """Positions are the kernel's (ours); a v0.1 file's order is whatever made it
        (the kernel recipe's nm sorts by name), so its positions are only file order."""
        return self._reader.positions_exact

    # -- lookups ---------------------------------------------------------------------

    def lookup(self, names: Iterable[str]) -> dict[str, list[SymbolRecord]]:
        """Every definition of each name, across all objects, in file order (object, then
        position). Names with no definition are left out."""
        found: dict[str, list[SymbolRecord]] = {}
        records_of = self._reader.records
        for name in dict.fromkeys(names):
            try:
                raw = encode_name(name)
            except UnicodeEncodeError:  # a lone surrogate that stands for no byte
                continue
            records = records_of(raw)
            if records:
                found[name] = records
        return found

    def exported(self, name: str) -> bool:
        """vmlinux exports ``name``, so the module loader resolves it by itself."""
        return any(r.exported and r.obj == "vmlinux" for r in self.lookup([name]).get(name, []))

    def vmlinux_exports(self, names: Collection[str]) -> set[str]:
        """The subset of ``names`` that vmlinux exports."""
        return {n for n, recs in self.lookup(names).items()
                if any(r.exported and r.obj == "vmlinux" for r in recs)}

    # -- whole-file views (only for errors and tools) ----------------------------------

    def all_names(self) -> list[str]:
        """Every symbol name, sorted (reads the whole file once: for hints and tools)."""
        if self._names is None:
            self._names = sorted(self._reader.names(1, 1 << 16))
        return self._names

    def _names_matching(self, pattern: str) -> list[str]:
        """The names a regular expression matches whole, found at C speed in one text of
        every name, a line each (a Python loop over half a million names takes a
        noticeable time). ``pattern`` must not match a newline."""
        if self._joined is None:
            self._joined = "\n".join(n for n in self.all_names() if "\n" not in n)
        return re.findall(f"^(?:{pattern})$", self._joined, re.MULTILINE)

    def closest(self, name: str, limit: int) -> list[str]:
        """Names that look like ``name``, best first (difflib ratio >= 0.75). Only names
        that share its first or its last character are compared: difflib takes some
        microseconds a name, and a kernel has half a million."""
        import difflib

        if not name or "\n" in name:
            return []
        slack = max(3, len(name) // 3)
        body = f"[^\n]{{{max(len(name) - slack - 1, 0)},{len(name) + slack - 1}}}"
        first, last = re.escape(name[0]), re.escape(name[-1])
        candidates = self._names_matching(f"{first}{body}|{body}{last}")
        return difflib.get_close_matches(name, candidates, n=limit, cutoff=0.75)

    def names_like(self, name: str) -> list[str]:
        """Names that contain ``name`` and are longer by a dot and more (reads the whole
        file: for unknown-name hints only)."""
        if "\n" in name:
            return []
        found = self._names_matching(f"[^\n]*{re.escape(name)}[^\n]*")
        return [n for n in found if len(n) > len(name) + 1]

    def __iter__(self) -> Iterator[SymbolRecord]:
        """Every record in file order (slow: for tests and exports to other tools). Each
        object's lines are checked as a lookup checks a name's, before any is yielded."""
        reader = self._reader
        for i in range(len(reader.object_starts())):
            yield from reader.object_records(i)
