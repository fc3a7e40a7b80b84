"""Where a kernel's objects are: a build tree, a distro layout or explicit paths.

:func:`klp.inputs.open_object` opens each one, decompressing ``.ko.xz``/``.ko.gz``/
``.ko.zst`` the way the kernel's module loader accepts them, so the scanner always
sees plain ELF.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from klp.elfcodec.constants import ET
from klp.elfcodec.strings import decode_name
from klp.errors import InputError, UsageError
from klp.inputs import COMPRESSED, open_input, read_input
from klp.symvers import module_name

#: What counts as a module file in a ``--modules`` folder.
MODULE_SUFFIXES = (".ko", *(".ko" + suffix for suffix in COMPRESSED))


@dataclass(frozen=True, slots=True)
class ObjectSource:
    """One object to scan: the path to open and the label recorded in symbols.klp."""

    path: str
    #: Path relative to the folder it was found in (stable when the tree moves).
    label: str


@dataclass
class Sources:
    """Everything one ``klp symdb build`` reads."""

    vmlinux: ObjectSource | None = None
    system_map: str | None = None
    modules: list[ObjectSource] = field(default_factory=list)
    symvers: str | None = None
    #: Where the modules' debug copies are, laid out as the modules are (a distro's
    #: -dbg package: /usr/lib/debug/lib/modules/<release>).
    debug_modules: str | None = None
    #: The modules this kernel has built into vmlinux (modules.builtin), by kernel name.
    builtin: set[str] = field(default_factory=set)

    def debug_copy(self, module: ObjectSource) -> str:
        """The debug copy of ``module`` (same relative path, uncompressed), or ""."""
        if self.debug_modules is None:
            return ""
        label = module.label
        if label.endswith(COMPRESSED):
            label = os.path.splitext(label)[0]
        path = os.path.join(self.debug_modules, label)
        return path if os.path.isfile(path) else ""


def _is_executable_elf(path: str) -> bool:
    """True for an ET_EXEC/ET_DYN ELF file (a vmlinux), from its first 18 bytes."""
    try:
        with open_input(path) as f:
            head = f.read(18)
    except OSError:
        return False
    if len(head) < 18 or head[:4] != b"\x7fELF":
        return False
    e_type = int.from_bytes(head[16:18], "little" if head[5] == 1 else "big")
    return e_type in (ET.EXEC, ET.DYN)


def _tree_modules(tree: Path) -> list[ObjectSource]:
    """The modules a build tree lists in modules.order: the ``.ko``, else the ``.o``.

    kbuild writes ``path/foo.o`` (v6.1+) or ``path/foo.ko`` (older) per line.
    A listed module with neither file is kept, so reading it fails with its name.
    """
    order = tree / "modules.order"
    if not order.is_file():
        return []
    found = []
    for line in order.read_text(errors="surrogateescape").splitlines():
        entry = line.strip()
        if not entry:
            continue
        stem = entry.removesuffix(".ko").removesuffix(".o")
        ko, obj = tree / f"{stem}.ko", tree / f"{stem}.o"
        chosen = ko if ko.is_file() or not obj.is_file() else obj
        found.append(ObjectSource(str(chosen), os.path.relpath(chosen, tree)))
    return found


def folder_modules(root: Path) -> list[ObjectSource]:
    """Every module file under ``root`` (symlinked folders such as build/ are not followed)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            if name.endswith(MODULE_SUFFIXES):
                path = os.path.join(folder, name)
                found.append(ObjectSource(path, os.path.relpath(path, root)))
    found.sort(key=lambda s: s.label)
    return found


def read_builtin(folder: Path) -> set[str]:
    """The module names a kernel's ``modules.builtin`` lists (one ``kernel/.../x.ko``
    path a line, written by kbuild beside modules.order): modules built into vmlinux,
    whose symbols are vmlinux's and which never load. No file: none known."""
    path = folder / "modules.builtin"
    if not path.is_file():
        return set()
    entries = decode_name(read_input(str(path))).split("\n")
    return {module_name(e) for e in map(str.strip, entries)
            if e.endswith(".ko") and not any(c.isspace() for c in e)}


def find_sources(
    *,
    kernel_tree: str | None = None,
    vmlinux: str | None = None,
    system_map: str | None = None,
    modules_dir: str | None = None,
    symvers: str | None = None,
    paths: tuple[str, ...] | list[str] = (),
    debug_modules: str | None = None,
) -> Sources:
    """Resolve the command line's inputs into the objects to scan."""
    if debug_modules is not None and not os.path.isdir(debug_modules):
        raise InputError(f"{debug_modules}: not a folder")
    src = Sources(system_map=system_map, symvers=symvers, debug_modules=debug_modules)
    if vmlinux:
        src.vmlinux = ObjectSource(vmlinux, os.path.basename(vmlinux))
    for given in (vmlinux, system_map, symvers):
        if given and not os.path.isfile(given):
            raise InputError(f"{given}: not a regular file" if os.path.exists(given)
                             else f"{given}: no such file")
    if kernel_tree:
        tree = Path(kernel_tree)
        if not tree.is_dir():
            raise InputError(f"{tree}: not a folder")
        if src.vmlinux is None and src.system_map is None:
            if not (tree / "vmlinux").is_file():
                raise InputError(f"{tree}: no vmlinux (build the kernel first)")
            src.vmlinux = ObjectSource(str(tree / "vmlinux"), "vmlinux")
        if src.symvers is None and (tree / "Module.symvers").is_file():
            src.symvers = str(tree / "Module.symvers")
        src.modules += _tree_modules(tree)
        src.builtin |= read_builtin(tree)
    if modules_dir:
        root = Path(modules_dir)
        if not root.is_dir():
            raise InputError(f"{root}: not a folder")
        src.modules += folder_modules(root)
        src.builtin |= read_builtin(root)
    for p in paths:
        if src.vmlinux is None and _is_executable_elf(p):
            src.vmlinux = ObjectSource(p, os.path.basename(p))
        else:
            src.modules.append(ObjectSource(p, p))
    if not (src.vmlinux or src.system_map or src.modules):
        raise UsageError(
            "nothing to scan: give --kernel-tree, --vmlinux, --system-map, --modules "
            "or object paths"
        )
    return src


