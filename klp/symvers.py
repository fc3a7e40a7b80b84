"""Module.symvers: which symbols the module loader resolves, and who exports them.

Each line is ``CRC<TAB>symbol<TAB>module path<TAB>export type[<TAB>namespace]``;
the module path is ``vmlinux`` for the kernel itself. One :class:`Exports` serves
the scanner (what each object exports, by kind) and the converter (what vmlinux
exports, and which module exports a name).
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from klp.elfcodec.strings import decode_name, encode_name
from klp.errors import InputError
from klp.inputs import read_input


@functools.cache
def module_name(path: str) -> str:
    """The name the kernel gives a module: its file name, without suffixes, '-' as '_'."""
    base = os.path.basename(path)
    return base.split(".", 1)[0].replace("-", "_")


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


def read_symvers(path: str, names: Iterable[str] | None = None) -> Exports:
    """Read Module.symvers; with ``names``, only the lines of those names (the
    converter asks about the few names a patch leaves undefined, and a distro's file
    has tens of thousands of lines). Every line read is checked, and the first one
    always, so that another kind of file is an error."""
    plain: dict[str, set[bytes]] = defaultdict(set)
    gpl: dict[str, set[bytes]] = defaultdict(set)
    data = read_input(path)
    lines = enumerate(data.splitlines(), 1) if names is None else _lines_of(data, names)
    if names is not None and data and _export(data.partition(b"\n")[0].rstrip(b"\r")) is None:
        raise InputError(f"{path}:1: not a Module.symvers line")  # nor the file one
    for where, line in lines:
        export = _export(line)
        if export is None:
            lineno = where if names is None else data.count(b"\n", 0, where) + 1
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


def _lines_of(data: bytes, names: Iterable[str]) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of each line whose symbol column is one of ``names``."""
    for name in sorted(set(names)):
        raw = encode_name(name)
        if not raw or b"\t" in raw or b"\n" in raw:
            continue  # no symbol column holds it
        key = b"\t" + raw + b"\t"
        at = data.find(key)
        while at >= 0:
            start = data.rfind(b"\n", 0, at) + 1
            if b"\t" not in data[start:at]:  # the second column, not a module path
                end = data.find(b"\n", at)
                yield start, data[start : end if end >= 0 else len(data)].rstrip(b"\r")
            at = data.find(key, at + 1)
