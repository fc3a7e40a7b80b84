"""``klp verify`` as a function: the command maps its options onto :func:`verify_file`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from klp.convert.model import Problem, ProblemKind, SymbolLookup
from klp.elfcodec.constants import ET, SHN
from klp.elfcodec.dwarf import FunctionPlace, inlined_copies
from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.kmod import build_id, modinfo
from klp.errors import InputError, UsageError
from klp.livepatch import rules
from klp.livepatch.registration import read_registration
from klp.symvers import module_name
from klp.verify.check import Verdict, verify_module
from klp.verify.report import report

if TYPE_CHECKING:
    from klp.symdb.format import SymbolDB


def verify_file(module: Path, *, symdb: Path | None = None, kallsyms: Path | None = None,
                modules: Path | None = None, debuginfo: Sequence[Path] = ()
                ) -> tuple[Verdict, dict[str, Any]]:
    """Check ``module`` against a symbol database or a running kernel's kallsyms dump
    (with the target modules' files from ``modules``); the verdict and the report.
    ``debuginfo``: files of the target kernel with DWARF (vmlinux, modules), which
    say where the compiler inlined the patched functions."""
    if (symdb is None) == (kallsyms is None):
        raise UsageError("give exactly one of --symdb FILE and --kallsyms FILE")
    if modules is not None and kallsyms is None:
        raise UsageError("--modules goes with --kallsyms (a symdb has the modules already)")
    if debuginfo and symdb is None:
        raise UsageError("--debuginfo goes with --symdb (its build IDs say the files are "
                         "the same build)")
    elf = ElfFile.open(module)
    if elf.e_type != ET.REL:
        raise InputError(f"{module}: not a relocatable object (ET_REL); is it a .ko?")
    registration = read_registration(elf)  # read once: the kallsyms view needs it too
    lookup: SymbolLookup
    vermagic, no_livepatch = "", None
    debug: dict[str, ElfFile] = {}
    if symdb is not None:
        from klp.convert.lookup import open_lookup

        db = open_lookup(str(symdb))
        lookup, vermagic, no_livepatch = db, db.vermagic, db.no_livepatch()
        target = {"kind": "symdb", "path": str(symdb), "release": db.kernel_release}
        notes: list[str] = []
        debug = _debug_files(debuginfo, db)
    else:
        from klp.verify.kallsyms import KallsymsLookup

        dump = KallsymsLookup(str(kallsyms), str(modules) if modules else None,
                              _objects(elf, registration.names))
        lookup, notes = dump, dump.notes
        target = {"kind": "kallsyms", "path": str(kallsyms), "release": ""}
    verdict = verify_module(elf, lookup, target_vermagic=vermagic, registration=registration)
    verdict.warnings[:0] = notes
    if debug:
        _check_inlining(verdict, debug)
    if no_livepatch:
        verdict.problems.insert(0, Problem(ProblemKind.MODULE, "", no_livepatch, forcible=True))
    return verdict, report(str(module), target, verdict)


def _debug_files(paths: Sequence[Path], db: SymbolDB) -> dict[str, ElfFile]:
    """Each --debuginfo file by the object it describes, refused unless it is the build
    the database has (its GNU build ID)."""
    from klp.symdb.sources import open_object

    found: dict[str, ElfFile] = {}
    known = set(db.objects())
    for path in paths:
        debug = open_object(str(path))
        obj = "vmlinux" if debug.e_type != ET.REL else (
            modinfo(debug).get("name") or module_name(str(path)))
        if obj in found:
            raise UsageError(f"{path}: --debuginfo names {obj} twice")
        if obj not in known:
            raise InputError(f"{path} is the debug info of {obj}, which the database "
                             "does not have")
        ours, theirs = db.object_meta(obj).get("build-id", ""), build_id(debug)
        if ours and theirs != ours:
            raise InputError(f"{path} is another build of {obj} than the database's (build "
                             f"ID {theirs or 'none'}, the database has {ours}): give the "
                             "debug info of the kernel the database describes")
        found[obj] = debug
    return found


def _check_inlining(verdict: Verdict, debug: dict[str, ElfFile]) -> None:
    """Where the compiler inlined each patched function, from its object's DWARF: the
    patch does not reach those copies."""
    places: dict[int, FunctionPlace] = {}
    for i, func in enumerate(verdict.functions):
        if func.obj in debug and func.lands is not None and func.lands.value is not None:
            places[i] = FunctionPlace(func.old_name, func.lands.section, func.lands.value)
    copies = {obj: inlined_copies(debug[obj], [p for i, p in places.items()
                                               if verdict.functions[i].obj == obj])
              for obj in debug}
    unread: dict[str, list[str]] = {}
    for i, place in places.items():
        func = verdict.functions[i]
        found = copies[func.obj].get(place)
        if found is None:
            unread.setdefault(func.obj, []).append(func.old_name)
            continue
        # the function's own name holds it too where it calls itself, and in its
        # compiler copies, which the clone check reports
        callers = {c: n for c, n in found.callers.items() if c != func.old_name}
        verdict.functions[i] = func._replace(inlined_into=callers)
        warning = rules.inlined_copies(func.old_name, func.obj, callers)
        if warning:
            verdict.warnings.append(warning)
    for obj, names in unread.items():
        verdict.warnings.append(
            f"cannot tell where the compiler inlined {', '.join(names)}: the DWARF of "
            f"{debug[obj].path} does not describe {'it' if len(names) == 1 else 'them'}")


def _objects(elf: ElfFile, registered: set[str]) -> set[str]:
    """The objects a module's klp symbols and klp_objects name: the modules whose
    files a kallsyms view needs."""
    table = elf.symtab
    found = {parsed.obj for i in range(len(table)) if table.shndx(i) == SHN.LIVEPATCH
             if isinstance(parsed := rules.parse_klp_symbol(table.name(i), None),
                           rules.KlpSymbolName)}
    return found | registered
