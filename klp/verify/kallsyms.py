"""A running kernel's symbols from a ``/proc/kallsyms`` dump, as a symbol lookup.

``/proc/kallsyms`` lists vmlinux's symbols in address order, then each loaded
module's kept ("core") symbols in symbol-table order: the orders the livepatch
core counts positions in (kernel/kallsyms.c, kernel/module/kallsyms.c). It has
no sizes, types or source files, and nothing of modules that are not loaded;
the ``.ko`` files of the target modules (``--modules``) add those, with the
positions of both load orders and their ftrace call sites. Nor does it say which
build is running: sysfs does (``--sysfs``), with the GNU build IDs of vmlinux
(``kernel/notes``) and of each loaded module (``module/NAME/notes/*``) and the
modules' srcversions (``module/NAME/srcversion``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable
from pathlib import Path

from klp.elfcodec.kmod import build_id_in_notes
from klp.elfcodec.strings import decode_name
from klp.errors import InputError
from klp.inputs import open_object, read_input
from klp.symdb import callsites, clones
from klp.symdb.model import SharedRanges, SymbolRecord
from klp.symdb.scan import scan_module
from klp.symdb.sources import folder_modules, read_builtin
from klp.symvers import module_name

#: ``ADDRESS TYPE NAME`` and, for a module's symbol, ``\t[MODULE]``; the type is one
#: printable ASCII character (the kernel's are letters).
_LINE = re.compile(rb"([0-9a-fA-F]+) ([!-~]) (\S+)(?:\t\[(\S+)\])?")
#: Not modules: BPF programs and the kernel's own trampolines.
_PSEUDO_MODULES = re.compile(r"bpf|__builtin__\w+")

#: One kallsyms line of an object: (name, letter, address).
_Entry = tuple[str, str, int]


class KallsymsLookup:
    """Symbol records of a kallsyms dump, with the ``.ko`` files of ``objects`` from
    ``modules`` (a folder) for sizes, files and modules that are not loaded."""

    def __init__(self, path: str, modules: str | None = None,
                 objects: Collection[str] = (), sysfs: str | None = None,
                 little: bool = True) -> None:
        self.path = path
        #: What this view cannot show, for the report.
        self.notes: list[str] = []
        self._records: dict[str, list[SymbolRecord]] = defaultdict(list)
        self._objects: list[str] = []
        #: Build identity by object (build-id, srcversion): a module's .ko, then sysfs.
        self._meta: dict[str, dict[str, str]] = {}
        #: Call-site ranges of the modules read from their .ko files, by object.
        self._shared: dict[str, SharedRanges] = {}
        entries = _read(path)
        if not any(address for _, _, address in entries["vmlinux"]):
            self.notes.append(f"{path} shows every address as 0 (dumped without root?): "
                              "positions are checked, addresses are not")
        files = _module_files(modules, objects) if modules else {}
        for obj, lines in entries.items():
            file = files.pop(obj, None)
            if file is None or not self._add_module_file(obj, file, lines):
                self._add(obj, lines)
        for obj, file in sorted(files.items()):
            self._add_module_file(obj, file, None)
        #: The modules.builtin of the modules' folder.
        self._builtin = frozenset(read_builtin(Path(modules))) if modules else frozenset()
        if sysfs is not None:
            loaded = [obj for obj in entries if obj == "vmlinux" or obj in objects]
            for obj, meta in running_identity(Path(sysfs), loaded, little,
                                              self.notes).items():
                self._meta.setdefault(obj, {}).update(meta)

    def _add(self, obj: str, lines: list[_Entry]) -> None:
        self._objects.append(obj)
        counts: dict[str, int] = defaultdict(int)
        for name, _, _ in lines:
            counts[name] += 1
        seen: dict[str, int] = defaultdict(int)
        for name, letter, address in lines:
            seen[name] += 1
            pos, count = seen[name], counts[name]
            self._records[name].append(SymbolRecord(
                name=name, obj=obj, pos=pos, count=count, letter=letter, type="?",
                bind=_bind(letter), size=None, section="", value=address, file="",
                exported=letter.isupper(), late_pos=pos, late_count=count))

    def _add_module_file(self, obj: str, path: str, loaded: list[_Entry] | None) -> bool:
        """A module's ``.ko``; when the module is loaded, its kallsyms lines must be the
        file's kept symbols, whose running addresses replace the offsets. False when
        they are not (another build of the module): then the dump's lines count."""
        scanned = scan_module(open_object(path), path)
        records = on_file = scanned.records
        shared = callsites.decode_shared(scanned.meta[callsites.SHARED_KEY])
        if loaded is not None:
            if [(r.name, r.letter) for r in records] != [(n, c) for n, c, _ in loaded]:
                self.notes.append(f"{path} is not the {obj} that is loaded (its symbols "
                                  "differ from the dump's): the dump is used")
                return False
            records = [r._replace(value=address, section="")
                       for r, (_, _, address) in zip(records, loaded, strict=True)]
            # the file's ranges, moved to where the module runs (section+offset -> address)
            running = {f.address: r.address for f, r in zip(on_file, records, strict=True)}
            shared = {running[k]: v for k, v in shared.items() if k in running}
        self._shared[obj] = shared
        self._meta[obj] = {k: scanned.meta[k] for k in ("build-id", "srcversion")
                           if scanned.meta.get(k)}
        self._objects.append(obj)
        for record in records:
            self._records[record.name].append(record)
        return True

    # -- the SymbolLookup protocol -----------------------------------------------------

    def lookup(self, names: Iterable[str]) -> dict[str, list[SymbolRecord]]:
        order = {obj: i for i, obj in enumerate(self._objects)}
        return {n: sorted(self._records[n], key=lambda r: (order[r.obj], r.pos))
                for n in dict.fromkeys(names) if self._records.get(n)}

    def names_like(self, name: str) -> list[str]:
        return sorted(n for n in self._records if name in n and len(n) > len(name) + 1)

    def closest(self, name: str, limit: int) -> list[str]:
        import difflib

        return difflib.get_close_matches(name, list(self._records), n=limit, cutoff=0.75)

    def objects(self) -> list[str]:
        return list(self._objects)

    def has_object(self, name: str) -> bool:
        return name in self._objects

    @property
    def kernel_release(self) -> str:
        return ""

    #: The running kernel's view (SymbolLookup.running).
    running = True

    @property
    def builtin_modules(self) -> frozenset[str]:
        return self._builtin

    def compiler_clones(self, obj: str, functions: Collection[str]
                        ) -> dict[str, list[str]] | None:
        names = (n for n, records in self._records.items()
                 if "." in n and any(r.obj == obj and r.letter in "tT" for r in records))
        return clones.clones_by_function(clones.clone_names(names), functions)

    def shared_call_sites(self, obj: str) -> SharedRanges | None:
        """A module's from its .ko (``--modules``); /proc/kallsyms itself has none."""
        return self._shared.get(obj)

    def object_meta(self, obj: str) -> dict[str, str]:
        """The build ID and srcversion known of ``obj`` (KeyError: none)."""
        return self._meta[obj]


def running_identity(root: Path, loaded: Collection[str], little: bool, notes: list[str]
                     ) -> dict[str, dict[str, str]]:
    """The build IDs and srcversions sysfs (``root``: /sys or a copy of it) shows of
    vmlinux and of the ``loaded`` modules; the notes are in the kernel's byte order
    (``little``, the patch's). A file that cannot be read is said in ``notes``: the
    check it serves is a warning's, not worth the whole verdict."""
    if not (root / "kernel" / "notes").is_file():
        raise InputError(f"{root}: no kernel/notes (not the target's /sys or a copy of it)")
    found: dict[str, dict[str, str]] = {}
    for obj in loaded:
        folder = root / "kernel" if obj == "vmlinux" else root / "module" / obj
        files = [folder / "notes"] if obj == "vmlinux" else sorted(
            (folder / "notes").glob("*") if (folder / "notes").is_dir() else ())
        meta: dict[str, str] = {}
        for note in files:
            if bid := build_id_in_notes(_sysfs_file(note, notes), little):
                meta["build-id"] = bid
                break
        version = folder / "srcversion"
        if obj != "vmlinux" and version.exists() and (
                text := decode_name(_sysfs_file(version, notes).strip())):
            meta["srcversion"] = text
        if meta:
            found[obj] = meta
    return found


def _sysfs_file(path: Path, notes: list[str]) -> bytes:
    try:
        return read_input(str(path))
    except InputError as e:
        notes.append(f"{e}: the build it names is not checked")
        return b""


def _read(path: str) -> dict[str, list[_Entry]]:
    """The dump's lines by object (vmlinux first), in the dump's order."""
    found: dict[str, list[_Entry]] = {"vmlinux": []}
    for lineno, line in enumerate(read_input(path).splitlines(), 1):
        match = _LINE.fullmatch(line.rstrip())
        if match is None:
            raise InputError(f"{path}:{lineno}: not a /proc/kallsyms line")
        address, letter, name, module = match.groups()
        obj = decode_name(module) if module else "vmlinux"
        if not _PSEUDO_MODULES.fullmatch(obj):
            found.setdefault(obj, []).append(
                (decode_name(name), letter.decode(), int(address, 16)))
    if not found["vmlinux"]:
        raise InputError(f"{path}: no vmlinux symbols (is it a /proc/kallsyms dump?)")
    return found


def _bind(letter: str) -> str:
    if letter in "wWvV":
        return "WEAK"
    return "GLOBAL" if letter.isupper() else "LOCAL"


def _module_files(folder: str, objects: Collection[str]) -> dict[str, str]:
    """The files below ``folder`` of the modules named in ``objects``."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{folder}: not a folder")
    return {name: m.path for m in folder_modules(root)
            if (name := module_name(m.label)) in objects}
