"""What a livepatch module registers: the objects (and functions) of its ``klp_patch``.

The kernel applies a ``.klp.rela.<obj>.*`` section only for an object the patch
registers (kernel/livepatch/core.c, klp_init_object_loaded and
klp_apply_object_relocs run per ``klp_object``), so a relocation for any other
object is silently never applied. A livepatch module defines its ``klp_patch``,
``klp_object`` and ``klp_func`` as static initialised data: in the ``.ko`` every
pointer in them is a relocation (``__this_module``, a string, an array, a
function) and everything else is plain bytes. So they are read through their
relocations:

* ``klp_patch`` is ``{ .mod = THIS_MODULE, .objs = ... }``: an absolute
  relocation against ``__this_module`` followed 8 bytes later by one to the
  ``klp_object`` array;
* ``klp_object`` starts ``{ .name, .funcs }`` (name NULL: vmlinux) and the array
  ends with an all-zero entry (klp_for_each_object_static: ``funcs || name``);
* ``klp_func`` starts ``{ .old_name, .new_func, .old_sympos }`` and its array ends
  with ``old_name == NULL`` (klp_for_each_func_static).

Those leading fields have kept their place since livepatch began (v4.0); the
struct sizes have not. They come from the module's DWARF when it has any, else
from the size of the array's symbol, and a reading that two sizes would make
differ is refused rather than guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Literal, NamedTuple

from klp.elfcodec.constants import SHF, SHT, STT
from klp.elfcodec.dwarf import StructLayout, struct_layouts
from klp.elfcodec.elffile import ElfFile, Section
from klp.elfcodec.strings import decode_name
from klp.livepatch import rules

#: The leading fields of each struct as (name, offset), the kernel ABI since v4.0.
_ABI = {
    "klp_patch": {"mod": 0, "objs": 8},
    "klp_object": {"name": 0, "funcs": 8},
    "klp_func": {"old_name": 0, "new_func": 8, "old_sympos": 16},
}
#: Where in an element relocations may be: klp_object's name, funcs and four
#: callbacks (v4.15+); klp_func's old_name and new_func.
_POINTER_FIELDS = {"klp_object": 48, "klp_func": 16}
#: kernel: include/linux/module.h MODULE_NAME_LEN, and KSYM_NAME_LEN for old_name.
_MAX_STRING = 512
#: No kernel's klp_object or klp_func comes near a page (about 170 and 150 bytes in
#: 6.1, a few hundred with kobject debugging): a larger entry size is not one.
_MAX_ENTRY = 4096


class PatchFunc(NamedTuple):
    """One ``klp_func``: the function it replaces, as the kernel looks it up."""

    old_name: str
    old_sympos: int
    #: The replacement: (section index, offset) in the patch module, if it is there.
    new_func: tuple[int, int] | None = None


class PatchObject(NamedTuple):
    """One ``klp_object``: the object a patch applies to, by its kernel name."""

    name: str | None  #: as registered; None (a NULL name) means vmlinux
    funcs: tuple[PatchFunc, ...]
    place: str  #: where the entry is, e.g. ``klp_objs (.data+0xe0)``

    @property
    def object(self) -> str:
        return "vmlinux" if self.name is None else self.name


class Registration(NamedTuple):
    """The objects a patch registers, or why they cannot be read (``objects`` None)."""

    objects: tuple[PatchObject, ...] | None
    #: Where the klp_patch is (``klp_e2e_patch (.data+0x0)``), or why it was not read.
    source: str

    @property
    def names(self) -> set[str]:
        """The registered object names (vmlinux for a NULL name)."""
        return {o.object for o in self.objects or ()}


class Finding(NamedTuple):
    """A registration the kernel would not apply as meant: about ``subject`` (an object)."""

    subject: str
    message: str
    forcible: bool = False  #: the user may know better (``--force``)


def check_registration(registration: Registration, objects: Collection[str],
                       version: tuple[int, int] | None, known: Collection[str] | None,
                       builtin: Collection[str] = (), running: bool = False
                       ) -> tuple[list[Finding], list[str]]:
    """Problems and warnings: every object with klp relocations (``objects``) is a
    klp_object of the patch, and every klp_object names a module the kernel can have
    (``known``: the symbol database's objects, None without one, or with ``running``
    a kallsyms dump's; ``builtin``: the modules it has built into vmlinux)."""
    findings: list[Finding] = []
    if registration.objects is None:
        warnings = [] if not objects else [
            f"cannot tell which objects the patch registers ({registration.source}); the "
            "kernel applies .klp.rela.<object>.* only for registered klp_objects: make sure "
            f"it registers {', '.join(sorted(objects))}"]
        return findings, warnings
    warnings = []
    for obj in sorted(objects):
        why = rules.object_registered(obj, registration.names, version)
        if why and obj == "vmlinux" and version is None:
            warnings.append(why)  # fine since 5.8, and the kernel's version is unknown
        elif why:
            findings.append(Finding(obj, f"{why} ({registration.source})"))
    for entry in registration.objects:
        if entry.name is not None:
            found = rules.registered_name(entry.name, known, builtin, running)
            if found:
                findings.append(Finding(entry.name, f"{found[0]} ({entry.place})", found[1]))
    return findings, warnings


class _Unreadable(Exception):
    """A structure that cannot be read without guessing; the message says why."""


Place = tuple[int, int]  #: (section index, offset)
Pointer = tuple[int, int, int]  #: (symbol index, section index or -1, offset or addend)


class _Module:
    """The module's absolute data pointers and its data/function symbols, by place."""

    def __init__(self, elf: ElfFile) -> None:
        self.elf = elf
        table = elf.symtab
        self.pointers: dict[int, dict[int, Pointer]] = defaultdict(dict)
        self.this_module: list[Place] = []
        abs64 = elf.arch.abs64
        for rela in elf.sections_of_type(SHT.RELA):
            target = elf.rela_target(rela)
            if target is None or not _is_data(target) \
                    or rela.sh_link != elf.symtab_section.index:
                continue
            places = self.pointers[target.index]
            for rel in elf.rela(rela):
                if rel.type != abs64:
                    continue
                shndx = table.section_of(rel.sym)
                value = table.value(rel.sym) + rel.addend if shndx is not None else rel.addend
                places[rel.offset] = (rel.sym, -1 if shndx is None else shndx, value)
                if table.name(rel.sym) == "__this_module":
                    self.this_module.append((target.index, rel.offset))
        #: (section, value) -> (symbol, size, type) of the named data and function symbols
        self.symbols: dict[Place, list[tuple[int, int, int]]] = defaultdict(list)
        for i in range(len(table)):
            kind = table.type(i)
            shndx = table.section_of(i)
            if kind in (STT.OBJECT, STT.FUNC) and shndx is not None and table.name(i):
                self.symbols[(shndx, table.value(i))].append((i, table.size(i), kind))

    def pointer(self, place: Place) -> Pointer | None:
        return self.pointers.get(place[0], {}).get(place[1])

    def pointee(self, place: Place) -> Place | None:
        """Where the pointer stored at ``place`` points, when it points into the module."""
        found = self.pointer(place)
        if found is None or found[1] < 0:
            return None
        return found[1], found[2]

    def pointer_offsets(self, shndx: int, start: int, end: int) -> list[int]:
        return sorted(o for o in self.pointers.get(shndx, {}) if start <= o < end)

    def contents(self, shndx: int) -> bytes:
        sec = self.elf.sections[shndx]
        return b"" if sec.is_nobits else sec.data

    def size(self, shndx: int) -> int:
        """The section's size in memory (a NOBITS one, all zeros, has no contents)."""
        return int(self.elf.sections[shndx].sh_size)

    def describe(self, place: Place) -> str:
        """``symbol (section+offset)``, or ``section+offset`` when no symbol starts there."""
        where = f"{self.elf.sections[place[0]].name}+{place[1]:#x}"
        named = self.symbols.get(place)
        return f"{self.elf.symtab.name(named[0][0])} ({where})" if named else where


def read_registration(elf: ElfFile) -> Registration:
    """The objects the module's ``klp_patch`` registers, read without running it."""
    module = _Module(elf)
    layouts = struct_layouts(elf, _ABI)
    patches = []
    refused = []
    for place in module.this_module:
        objs = module.pointee((place[0], place[1] + _field(layouts, "klp_patch", "objs")))
        if objs is None or not _is_data(elf.sections[objs[0]]):
            continue  # THIS_MODULE in something else (a file_operations' .owner, ...)
        try:
            patches.append((place, _read_objects(module, layouts, objs)))
        except _Unreadable as e:
            refused.append(f"{module.describe(place)}: {e}")
    if not patches:
        why = refused[0] if refused else (
            "its data has no static klp_patch (THIS_MODULE, then a klp_object array)")
        return Registration(None, why)
    objects = tuple(obj for _, found in patches for obj in found)
    return Registration(objects, ", ".join(module.describe(place) for place, _ in patches))


def _field(layouts: dict[str, StructLayout], struct: str, name: str) -> int:
    layout = layouts.get(struct)
    if layout is not None and name in layout.members:
        return layout.members[name]
    return _ABI[struct][name]


def _is_data(sec: Section) -> bool:
    return bool(sec.sh_flags & SHF.ALLOC) and not sec.sh_flags & SHF.EXECINSTR


def _read_objects(module: _Module, layouts: dict[str, StructLayout],
                  start: Place) -> tuple[PatchObject, ...]:
    name_at = _field(layouts, "klp_object", "name")
    funcs_at = _field(layouts, "klp_object", "funcs")
    objects = []
    for shndx, at in _array(module, layouts, "klp_object", start, (name_at, funcs_at)):
        funcs = module.pointee((shndx, at + funcs_at))
        objects.append(PatchObject(
            _string(module, (shndx, at + name_at)),
            () if funcs is None else _read_funcs(module, layouts, funcs),
            module.describe((shndx, at))))
    return tuple(objects)


def _read_funcs(module: _Module, layouts: dict[str, StructLayout],
                start: Place) -> tuple[PatchFunc, ...]:
    old_name_at = _field(layouts, "klp_func", "old_name")
    new_func_at = _field(layouts, "klp_func", "new_func")
    sympos_at = _field(layouts, "klp_func", "old_sympos")
    order: Literal["little", "big"] = "little" if module.elf.little else "big"
    funcs = []
    for shndx, at in _array(module, layouts, "klp_func", start, (old_name_at,)):
        old_name = _string(module, (shndx, at + old_name_at))
        if old_name is None:
            raise _Unreadable(f"klp_func {module.describe((shndx, at))} has no old_name")
        sympos = module.contents(shndx)[at + sympos_at : at + sympos_at + 8]
        funcs.append(PatchFunc(old_name, int.from_bytes(sympos, order),
                               module.pointee((shndx, at + new_func_at))))
    return tuple(funcs)


def _array(module: _Module, layouts: dict[str, StructLayout], struct: str, start: Place,
           key_fields: tuple[int, ...]) -> list[Place]:
    """The entries of a zero-terminated array of ``struct``, up to its terminator.

    An entry is live while one of ``key_fields`` holds a pointer (the kernel's loop
    condition). Without DWARF the entry size is unknown, so every size that divides
    the array symbol's size is tried; they must all give the same entries.
    """
    layout = layouts.get(struct)
    if layout is not None and not 16 <= layout.size <= _MAX_ENTRY:
        raise _Unreadable(f"the module's DWARF gives struct {struct} {layout.size} bytes")
    extent = _symbol_extent(module, start)
    if extent is not None and start[1] + extent > module.size(start[0]):
        raise _Unreadable(f"the {struct} array {module.describe(start)} is larger than its "
                          "section")
    if layout is not None:
        sizes = [layout.size]
    elif extent is not None:
        sizes = [size for size in range(16, min(extent // 2, _MAX_ENTRY) + 1, 8)
                 if extent % size == 0]
    else:
        raise _Unreadable(f"no symbol gives the size of the {struct} array at "
                          f"{module.describe(start)}, and the module has no DWARF for "
                          "the struct (build it with -g)")
    readings = set()
    for size in sizes:
        entries = _entries(module, struct, start, size, key_fields, extent)
        if entries is not None:
            readings.add(tuple(entries))
    if len(readings) != 1:
        why = "no entry size fits its relocations" if not readings else "entry sizes disagree"
        raise _Unreadable(f"the {struct} array {module.describe(start)} cannot be read "
                          f"({why}; build the module with -g)")
    return list(readings.pop())


def _entries(module: _Module, struct: str, start: Place, size: int,
             key_fields: tuple[int, ...], extent: int | None) -> list[Place] | None:
    """The live entries for one entry size, or None when the relocations contradict it."""
    shndx, base = start
    limit = module.size(shndx) if extent is None else base + extent
    entries: list[Place] = []
    at = base
    while any(module.pointer((shndx, at + field)) for field in key_fields):
        entries.append((shndx, at))
        at += size
    if at + size > limit:
        return None  # the terminator is not inside the array
    end = base + extent if extent is not None else at + size
    pointer_fields = _POINTER_FIELDS[struct]
    for offset in module.pointer_offsets(shndx, base, end):
        index, within = divmod(offset - base, size)
        if index >= len(entries) or within >= pointer_fields:
            return None  # a pointer after the terminator, or in a field no one initialises
    return entries


def _symbol_extent(module: _Module, place: Place) -> int | None:
    """The size of the data object symbol that starts at ``place``, if there is one."""
    largest = max((size for _, size, kind in module.symbols.get(place, [])
                   if kind == STT.OBJECT), default=0)
    return largest or None


def _string(module: _Module, place: Place) -> str | None:
    """The C string a pointer field points at; None for a NULL pointer."""
    target = module.pointee(place)
    if target is None:
        if module.pointer(place) is not None:
            raise _Unreadable(f"the string pointer at {module.describe(place)} points "
                              "outside the module")
        return None
    data = module.contents(target[0])
    end = data.find(b"\0", target[1], target[1] + _MAX_STRING)
    if not 0 <= target[1] < len(data) or end < 0:
        raise _Unreadable(f"the string at {module.describe(target)} is not NUL-terminated")
    return decode_name(data[target[1] : end])

