"""What a module was converted for, recorded in the module: ``.klp.converted``.

A position counts a name's copies on one build, and the kernel loads the patch on
every build with the same vermagic, where a rebuild may have put the copies in
another order. So ``klp convert`` writes into the module what each position named:
every copy, on the converted-for build, of each name a klp symbol or a klp_func
binds by position, with that build's identity (release, build IDs, srcversions).
It is a small symbols.klp of its own, in a section the module loader leaves alone
(not SHF_ALLOC), so ``klp verify`` checks any target against it as
``--converted-with`` checks against a whole database (klp/verify/intent.py).
"""

from __future__ import annotations

from klp.elfcodec.constants import SHT
from klp.elfcodec.elffile import ElfFile
from klp.errors import InputError, OutputError
from klp.inputs import open_object
from klp.livepatch import rules
from klp.livepatch.registration import Registration
from klp.symdb.format import SymbolDB, assemble, encode_object, header_meta
from klp.symdb.model import Dialect, ObjectSymbols

SECTION = ".klp.converted"
#: What identifies a build: of the file, and of each object (the rest of a database's
#: metadata, such as call sites and clones, is about other names).
_FILE_KEYS = ("arch", "release", "build-id", "vermagic")
_OBJECT_KEYS = ("path", "release", "build-id", "banner", "vermagic", "srcversion")
_REMEDY = "convert the module again"


def bound_names(elf: ElfFile, registration: Registration | None) -> dict[str, set[str]]:
    """Per object, the names the module binds by position: its klp symbols' and its
    klp_funcs' old_names."""
    names: dict[str, set[str]] = {}
    for symbol in rules.klp_symbols(elf):
        names.setdefault(symbol.obj, set()).add(symbol.name)
    for patched in registration.objects or () if registration else ():
        for func in patched.funcs:
            names.setdefault(patched.object, set()).add(func.old_name)
    return names


def record(elf: ElfFile, registration: Registration | None, db: SymbolDB) -> bytes | None:
    """The record of what ``elf``'s positions name in ``db``; None when ``db`` cannot
    say (the klp-convert-0.1 format counts no kernel positions) or nothing is bound."""
    if db.format != Dialect.KLP:
        return None
    wanted = bound_names(elf, registration)
    found = db.lookup(sorted(set().union(*wanted.values())))
    # vmlinux, then modules by name: not the database's order, which would list every
    # object (a distro database's 4,000 names, read at every convert)
    present = {r.obj for records in found.values() for r in records}
    objects = []
    for obj in sorted(wanted.keys() & present, key=lambda o: (o != "vmlinux", o)):
        copies = [r for name in sorted(wanted[obj]) for r in found.get(name, ())
                  if r.obj == obj]
        if copies:
            meta = {k: v for k, v in db.object_meta(obj).items() if k in _OBJECT_KEYS}
            objects.append(encode_object(ObjectSymbols.from_records(
                copies, name=obj, arch=db.arch, meta=meta)))
    if not objects:
        return None
    meta = header_meta(objects, db.meta.get("vmlinux", ""))
    meta.update((k, db.meta[k]) for k in _FILE_KEYS if k in db.meta)
    return assemble(meta, objects)


def write_record(elf: ElfFile, registration: Registration | None, db: SymbolDB) -> None:
    """Put the record into ``elf``, replacing one it had (an input converted before)."""
    data = record(elf, registration, db)
    elf.remove_sections([sec for sec in elf.sections if sec.name == SECTION])
    if data is not None:
        elf.add_section(SECTION, SHT.PROGBITS, data=data)


def read_record(elf: ElfFile, module: str) -> SymbolDB | None:
    """The record ``elf`` carries (None without one), read as the symbols.klp it is,
    with every check a database gets; errors name ``module`` and the section."""
    found = [sec for sec in elf.sections if sec.name == SECTION]
    if not found:
        return None
    sec, label = found[0], f"{module} ({SECTION})"
    if len(found) > 1:
        raise InputError(f"{label}: {len(found)} sections of that name, so which build the "
                         f"module was converted for is not clear; {_REMEDY}")
    if sec.sh_type != SHT.PROGBITS:
        raise InputError(f"{label}: section type {sec.sh_type}, not PROGBITS; {_REMEDY}")
    return SymbolDB(label, sec.data, remedy=_REMEDY)


def module_record(path: str) -> SymbolDB:
    """The record of the module at ``path`` (``klp symdb query -d PATCH.ko``)."""
    recorded = read_record(open_object(path), path)
    if recorded is None:
        raise InputError(f"{path}: no {SECTION} section: not a module klp convert wrote "
                         "against a symbols.klp in klp's format")
    return recorded


def check_record(elf: ElfFile, path: str) -> None:
    """Read the record of a module about to be written in full, as verify will read it:
    an :class:`OutputError` when klp's own reader rejects it."""
    try:
        recorded = read_record(elf, path)
        for _ in recorded or ():
            pass
    except InputError as e:
        raise OutputError(f"{path}: not written: klp could not read back its {SECTION} "
                          f"({e})") from None


def described(db: SymbolDB) -> str:
    """The converted-for build as messages name it: its release and vmlinux's build ID."""
    release = db.kernel_release or "the build"
    return f"{release} (build ID {db.build_id[:12]})" if db.build_id else release
