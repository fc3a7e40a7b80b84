"""Module.symvers: which symbols the module loader resolves, and who exports them.

Each line is ``CRC<TAB>symbol<TAB>module path<TAB>export type[<TAB>namespace]``;
the module path is ``vmlinux`` for the kernel itself. One :class:`Exports` serves
the scanner (what each object exports, by kind) and the converter (what vmlinux
exports, and which module exports a name).
"""

from __future__ import annotations

import functools
import itertools
import os
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import NamedTuple

from klp.elfcodec.strings import decode_name, encode_name
from klp.errors import InputError
from klp.inputs import read_input


@functools.cache
def module_name(path: str) -> str:
    """The name the kernel gives a module: its file name, without suffixes, '-' as '_'."""
    base = os.path.basename(path)
    return base.split(".", 1)[0].replace("-", "_")


def loaded_name(info: Mapping[str, str], path: str) -> str:
    """The name a module goes by once loaded: its ``.modinfo`` ``name=`` (``info``),
    else :func:`module_name` of its file."""
    return info.get("name") or module_name(path)


class ObjectExports(NamedTuple):
    """What one object exports, by kind."""

    plain: frozenset[bytes] = frozenset()  #: EXPORT_SYMBOL
    gpl: frozenset[bytes] = frozenset()  #: EXPORT_SYMBOL_GPL (and anything else)

    @property
    def all(self) -> frozenset[bytes]:
        return self.plain | self.gpl


NO_EXPORTS = ObjectExports()


class Exports:
    """What Module.symvers says each object (vmlinux, or a module by its kernel
    name) exports."""

    def __init__(self, objects: dict[str, ObjectExports] | None = None) -> None:
        self.objects = objects or {}

    def of(self, obj: str) -> ObjectExports:
        return self.objects.get(obj, NO_EXPORTS)

    @functools.cached_property
    def vmlinux(self) -> set[str]:
        """The names vmlinux exports: the module loader resolves them."""
        return {decode_name(n) for n in self.of("vmlinux").all}

    @functools.cached_property
    def modules(self) -> dict[str, str]:
        """Name -> the module that exports it."""
        return {decode_name(n): obj
                for obj, exports in sorted(self.objects.items()) if obj != "vmlinux"
                for n in exports.all}


#: Up to this many names, finding each one's lines beats reading every line: each
#: search scans the file once, and reading it all costs about as much as 40 of them.
_FEW_NAMES = 40


def read_symvers(path: str, names: Collection[str] | None = None) -> Exports:
    """Read Module.symvers, every line; or, given a few ``names`` (the converter asks
    about those a patch leaves undefined, and a distro's file has tens of thousands of
    lines), the lines of those names and the first and last lines, so that another
    kind of file, or a cut one, is still an error. Every line read is checked. Lines
    end at ``\\n`` (a ``\\r`` before it is dropped) both ways."""
    plain: dict[str, set[bytes]] = defaultdict(set)
    gpl: dict[str, set[bytes]] = defaultdict(set)
    data = read_input(path)
    lines: Iterator[tuple[int, bytes]]
    if names is not None and len(names) <= _FEW_NAMES:
        lines = itertools.chain(_first_and_last_lines(data), _lines_of(data, names))
    else:
        lines = _every_line(data)
    for start, line in lines:
        export = _export(line)
        if export is None:
            lineno = data.count(b"\n", 0, start) + 1
            raise InputError(f"{path}:{lineno}: not a Module.symvers line")
        name, obj, kind = export
        (plain if kind == b"EXPORT_SYMBOL" else gpl)[obj].add(name)
    return Exports({o: ObjectExports(frozenset(plain[o]), frozenset(gpl[o]))
                    for o in plain.keys() | gpl.keys()})


def _export(line: bytes) -> tuple[bytes, str, bytes] | None:
    """A line's (symbol, exporting object, export type), or None if it is not one."""
    fields = line.split(b"\t")
    if len(fields) < 4 or not fields[0].startswith(b"0x"):
        return None
    owner = decode_name(fields[2])
    return fields[1], owner if owner == "vmlinux" else module_name(owner), fields[3]


def _line_at(data: bytes, start: int) -> bytes:
    end = data.find(b"\n", start)
    return _without_cr(data[start : end if end >= 0 else len(data)])


def _without_cr(line: bytes) -> bytes:
    """A line as both readings see it: a CRLF file's ``\\r`` is not part of it."""
    return line[:-1] if line.endswith(b"\r") else line


def _every_line(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of every line."""
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()  # what follows the last newline
    start = 0
    for piece in pieces:
        yield start, _without_cr(piece)
        start += len(piece) + 1


def _first_and_last_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    if not data:
        return
    yield 0, _line_at(data, 0)
    last = data.rfind(b"\n", 0, len(data) - 1) + 1
    if last:
        yield last, _line_at(data, last)


def _lines_of(data: bytes, names: Iterable[str]) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of each line whose symbol column is one of ``names``."""
    for name in sorted(set(names)):
        try:
            raw = encode_name(name)
        except UnicodeEncodeError:
            continue  # not a name any file holds
        if b"\t" in raw or b"\n" in raw:
            continue  # no symbol column holds it
        key = b"\t" + raw + b"\t"
        at = data.find(key)
        while at >= 0:
            start = data.rfind(b"\n", 0, at) + 1
            if b"\t" not in data[start:at]:  # the second column, not a module path
                yield start, _line_at(data, start)
            at = data.find(key, at + 1)
