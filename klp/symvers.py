"""Module.symvers: which symbols the module loader resolves, and who exports them.

Each line is ``CRC<TAB>symbol<TAB>module path<TAB>export type[<TAB>namespace]``;
the module path is ``vmlinux`` for the kernel itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from klp.errors import InputError


def module_name(path: str) -> str:
    """The name the kernel gives a module: its file name, without suffixes, '-' as '_'."""
    base = os.path.basename(path)
    return base.split(".", 1)[0].replace("-", "_")


@dataclass
class Exports:
    vmlinux: set[str] = field(default_factory=set)
    #: name -> exporting module (normalised name)
    modules: dict[str, str] = field(default_factory=dict)


def read_symvers(path: str) -> Exports:
    exports = Exports()
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            for lineno, line in enumerate(f, 1):
                fields = line.rstrip("\n").split("\t")
                if len(fields) < 4 or not fields[0].startswith("0x"):
                    raise InputError(f"{path}:{lineno}: not a Module.symvers line")
                _, name, owner = fields[:3]
                if owner == "vmlinux":
                    exports.vmlinux.add(name)
                else:
                    exports.modules[name] = module_name(owner)
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    return exports
