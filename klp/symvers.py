"""Module.symvers: which symbols the module loader resolves, and who exports them.

Each line is ``CRC<TAB>symbol<TAB>module path<TAB>export type[<TAB>namespace]``;
the module path is ``vmlinux`` for the kernel itself.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from klp.errors import InputError, read_input


@functools.cache
def module_name(path: str) -> str:
    """The name the kernel gives a module: its file name, without suffixes, '-' as '_'."""
    base = os.path.basename(path)
    return base.split(".", 1)[0].replace("-", "_")


def parse_symvers(path: str) -> Iterator[tuple[bytes, str, bytes]]:
    """(symbol, exporting object, export type) for every line; the object is ``vmlinux``
    or a module name as the kernel spells it."""
    data = read_input(path)
    for lineno, line in enumerate(data.splitlines(), 1):
        fields = line.split(b"\t")
        if len(fields) < 4 or not fields[0].startswith(b"0x"):
            raise InputError(f"{path}:{lineno}: not a Module.symvers line")
        owner = fields[2].decode("utf-8", "surrogateescape")
        yield fields[1], owner if owner == "vmlinux" else module_name(owner), fields[3]


@dataclass
class Exports:
    vmlinux: set[str] = field(default_factory=set)
    #: name -> exporting module (normalised name)
    modules: dict[str, str] = field(default_factory=dict)


def read_symvers(path: str) -> Exports:
    exports = Exports()
    for raw, owner, _ in parse_symvers(path):
        name = raw.decode("utf-8", "surrogateescape")
        if owner == "vmlinux":
            exports.vmlinux.add(name)
        else:
            exports.modules[name] = owner
    return exports
