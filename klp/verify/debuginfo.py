"""What the target's own DWARF says about a patch (``klp verify --debuginfo``,
``klp convert --debuginfo``): where the compiler inlined the functions it replaces,
and whether each replacement takes the arguments the replaced function's callers
pass (the patch module's own DWARF, when it was built with it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from klp.convert.model import Problem, ProblemKind
from klp.elfcodec.constants import ET
from klp.elfcodec.dwarf import FunctionPlace, Signature, inlined_copies, signatures
from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.kmod import build_id, modinfo
from klp.errors import InputError, UsageError
from klp.inputs import open_object
from klp.livepatch import rules
from klp.livepatch.declarations import Declared
from klp.symdb.format import SymbolDB
from klp.symvers import loaded_name
from klp.verify.check import Binding, Verdict


def debug_files(paths: Sequence[str], db: SymbolDB) -> tuple[dict[str, ElfFile], list[str]]:
    """Each --debuginfo file by the object it describes, refused unless it is the build
    the database has (its GNU build ID); and what could not be checked."""
    found: dict[str, ElfFile] = {}
    notes = []
    known = set(db.objects())
    for path in paths:
        debug = open_object(path)
        obj = "vmlinux" if debug.e_type != ET.REL else loaded_name(modinfo(debug), path)
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
        if not ours:
            notes.append(f"the database has no build ID of {obj} (System.map): cannot tell "
                         f"whether {path} is the same build; what it says of {obj} assumes so")
        found[obj] = debug
    return found, notes


def check_debuginfo(verdict: Verdict, patch: ElfFile, debug: Mapping[str, ElfFile],
                    declared: Declared | None) -> None:
    """The checks, for the patched and the called functions of the objects ``debug``
    describes (``declared``: the patch's own declarations, when it has DWARF). Each
    object's prototypes are read in one pass, for both kinds of function."""
    places: dict[int, FunctionPlace] = {}
    for i, func in enumerate(verdict.functions):
        if func.obj in debug and func.lands is not None and func.lands.value is not None:
            places[i] = FunctionPlace(func.old_name, func.lands.section, func.lands.value)
    calls = _calls(verdict, debug, declared) if declared is not None else {}
    defined = {obj: signatures(elf, [p for i, p in places.items()
                                     if verdict.functions[i].obj == obj]
                               + [p for b, (p, _) in calls.items() if b.obj == obj])
               for obj, elf in debug.items()}
    _check_inlining(verdict, debug, places)
    _check_prototypes(verdict, patch, places, defined)
    _check_calls(verdict, calls, defined)


def _check_inlining(verdict: Verdict, debug: Mapping[str, ElfFile],
                    places: dict[int, FunctionPlace]) -> None:
    """Where the compiler inlined each patched function, from its object's DWARF: the
    patch does not reach those copies."""
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
        # a function that calls itself holds a copy of itself: replaced whole
        callers = {c: n for c, n in found.callers.items() if c != func.old_name}
        verdict.functions[i] = func._replace(inlined_into=callers)
        warning = rules.inlined_copies(func.old_name, func.obj, callers)
        if warning:
            verdict.warnings.append(warning)
    for obj, names in unread.items():
        verdict.warnings.append(
            f"cannot tell where the compiler inlined {', '.join(names)}: the DWARF of "
            f"{debug[obj].path} does not describe {'it' if len(names) == 1 else 'them'}")


def _check_prototypes(verdict: Verdict, patch: ElfFile, places: dict[int, FunctionPlace],
                      defined: Mapping[str, Mapping[FunctionPlace, Signature]]) -> None:
    """Each replacement against the function it replaces, where both have DWARF."""
    new_funcs = {i: at for i in places if (at := verdict.functions[i].new_func) is not None}
    names = patch.symtab.functions_at(set(new_funcs.values()))
    replacements = {i: FunctionPlace(names[at][0], patch.sections[at[0]].name, at[1])
                    for i, at in new_funcs.items() if at in names}
    if not replacements:
        return
    new = signatures(patch, list(replacements.values()))
    for i, replacement in replacements.items():
        func = verdict.functions[i]
        was, now = defined[func.obj].get(places[i]), new.get(replacement)
        if was is None or now is None:
            continue
        mismatch = rules.prototype_mismatch(func.old_name, was, replacement.name, now)
        if mismatch:
            verdict.problems.append(Problem(ProblemKind.FUNCTION, func.old_name,
                                            f"klp_func {func.old_name}: {mismatch}",
                                            forcible=True))


_Calls = dict[Binding, tuple[FunctionPlace, Signature]]


def _calls(verdict: Verdict, debug: Mapping[str, ElfFile], declared: Declared) -> _Calls:
    """The functions the patch calls through klp symbols, in objects ``debug`` describes:
    where each is, and the prototype the patch declares it with."""
    calls: _Calls = {}
    for binding in verdict.bindings:
        lands = binding.lands
        signature = declared.function(binding.obj, binding.name, binding.pos)
        if lands is not None and signature is not None and lands.obj in debug \
                and lands.value is not None and rules.is_code(lands) is not False:
            calls[binding] = (FunctionPlace(lands.name, lands.section, lands.value), signature)
    return calls


def _check_calls(verdict: Verdict, calls: _Calls,
                 defined: Mapping[str, Mapping[FunctionPlace, Signature]]) -> None:
    """Each called function as the patch declares it, against the target's definition."""
    for binding, (place, signature) in calls.items():
        target = defined[binding.obj].get(place)
        if binding.lands is None or target is None:
            continue
        mismatch = rules.call_mismatch(binding.lands, signature, target)
        if mismatch:
            verdict.problems.append(Problem(ProblemKind.BINDING, binding.symbol, mismatch, [],
                                            [binding.lands], forcible=True))
