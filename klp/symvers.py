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
from typing import NamedTuple

from klp.elfcodec.strings import decode_name
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


def read_symvers(path: str) -> Exports:
    plain: dict[str, set[bytes]] = defaultdict(set)
    gpl: dict[str, set[bytes]] = defaultdict(set)
    data = read_input(path)
    for lineno, line in enumerate(data.splitlines(), 1):
        fields = line.split(b"\t")
        if len(fields) < 4 or not fields[0].startswith(b"0x"):
            raise InputError(f"{path}:{lineno}: not a Module.symvers line")
        owner = decode_name(fields[2])
        obj = owner if owner == "vmlinux" else module_name(owner)
        (plain if fields[3] == b"EXPORT_SYMBOL" else gpl)[obj].add(fields[1])
    return Exports({o: ObjectExports(frozenset(plain[o]), frozenset(gpl[o]))
                    for o in plain.keys() | gpl.keys()})
