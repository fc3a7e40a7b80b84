"""``klp verify`` as a function: the command maps its options onto :func:`verify_file`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from klp.convert.model import Problem, ProblemKind, SymbolLookup
from klp.elfcodec.constants import ET
from klp.elfcodec.elffile import ElfFile
from klp.errors import InputError, UsageError
from klp.inputs import StrPath, open_object
from klp.livepatch import rules
from klp.livepatch.converted import described, read_record
from klp.livepatch.registration import read_registration
from klp.symdb.format import SymbolDB
from klp.verify.check import Verdict, check_exports, verify_module
from klp.verify.report import report


def verify_file(module: StrPath, *, symdb: StrPath | None = None,
                kallsyms: StrPath | None = None, modules: StrPath | None = None,
                sysfs: StrPath | None = None, debuginfo: Sequence[StrPath] = (),
                converted_with: StrPath | None = None) -> tuple[Verdict, dict[str, Any]]:
    """Check ``module`` against a symbol database or a running kernel's kallsyms dump
    (with the target modules' files from ``modules``); the verdict and the report.
    ``sysfs``: the target's /sys or a copy of it, for the running build's identity
    (by default /sys when ``kallsyms`` is /proc/kallsyms). ``debuginfo``: files of
    the target kernel with DWARF (vmlinux, modules), which say where the compiler
    inlined the patched functions and what they take.
    ``converted_with``: the database of the build the module was converted for, whose
    copies its positions must still name on the target (klp/verify/intent.py)."""
    if (symdb is None) == (kallsyms is None):
        raise UsageError("give exactly one of --symdb FILE and --kallsyms FILE")
    if modules is not None and kallsyms is None:
        raise UsageError("--modules goes with --kallsyms (a symdb has the modules already)")
    if sysfs is not None and kallsyms is None:
        raise UsageError("--sysfs goes with --kallsyms (a symdb has the build IDs already)")
    if debuginfo and symdb is None:
        raise UsageError("--debuginfo goes with --symdb (its build IDs say the files are "
                         "the same build)")
    path = os.fspath(module)
    elf = open_object(path)
    if elf.e_type != ET.REL:
        raise InputError(f"{path}: not a relocatable object (ET_REL); is it a .ko?")
    registration = read_registration(elf)  # read once: the kallsyms view needs it too
    lookup: SymbolLookup
    vermagic, no_livepatch = "", None
    debug: dict[str, ElfFile] = {}
    if symdb is not None:
        from klp.convert.lookup import open_lookup

        db = open_lookup(os.fspath(symdb))
        lookup, vermagic, no_livepatch = db, db.vermagic, db.no_livepatch()
        target = {"kind": "symdb", "path": os.fspath(symdb), "release": db.kernel_release}
        notes: list[str] = []
        if debuginfo:
            from klp.verify.debuginfo import debug_files

            debug, notes = debug_files([os.fspath(p) for p in debuginfo], db)
    elif kallsyms is not None:
        from klp.verify.kallsyms import KallsymsLookup

        dump_path = os.fspath(kallsyms)
        if sysfs is None and os.path.realpath(dump_path) == "/proc/kallsyms" \
                and os.path.isfile("/sys/kernel/notes"):
            sysfs = "/sys"  # the running kernel's, as the dump is
        sysfs_path = None if sysfs is None else os.fspath(sysfs)
        dump = KallsymsLookup(dump_path, os.fspath(modules) if modules else None,
                              _objects(elf, registration.names), sysfs_path, elf.little)
        lookup, notes = dump, dump.notes
        target = {"kind": "kallsyms", "path": dump_path, "release": ""}
        if sysfs_path is not None:
            target["sysfs"] = sysfs_path
    verdict = verify_module(elf, lookup, target_vermagic=vermagic, registration=registration,
                            debug=debug)
    if symdb is not None and db.records_exports:
        check_exports(verdict, elf, db)  # /proc/kallsyms does not say what is exported
    verdict.warnings[:0] = notes
    _check_converted_for(verdict, elf, path, lookup, target,
                         None if converted_with is None else os.fspath(converted_with))
    if no_livepatch:
        verdict.problems.insert(0, Problem(ProblemKind.MODULE, "", no_livepatch, forcible=True))
    return verdict, report(path, target, verdict)


def _check_converted_for(verdict: Verdict, elf: ElfFile, module: str, lookup: SymbolLookup,
                         target: dict[str, Any], converted_with: str | None) -> None:
    """Each position must still name the copy it named on the build the module was
    converted for: as --converted-with's database has it, else as the record klp
    convert wrote into the module says (klp/verify/intent.py)."""
    from klp.verify.intent import check_identity, check_intent

    if converted_with is not None:
        built = SymbolDB(converted_with)
        label = target["converted_with"] = converted_with
        if built.kernel_release and lookup.kernel_release and (
                built.kernel_release != lookup.kernel_release):
            verdict.warnings.append(
                f"{label} describes release {built.kernel_release} and the target "
                f"{lookup.kernel_release}: --converted-with compares two builds of one "
                "release")
    elif (recorded := read_record(elf, module)) is not None:
        built = recorded
        label = target["converted_for"] = described(recorded)
        check_identity(verdict, lookup, recorded)
    else:
        return
    check_intent(verdict, lookup, built, label)


def _objects(elf: ElfFile, registered: set[str]) -> set[str]:
    """The objects a module's klp symbols and klp_objects name: the modules whose
    files a kallsyms view needs."""
    return {symbol.obj for symbol in rules.klp_symbols(elf)} | registered
