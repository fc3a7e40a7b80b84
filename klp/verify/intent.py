"""The copy each klp symbol and klp_func meant, on the build the module was converted for.

A position says which of a name's copies the kernel binds, counted on one build. A
kernel rebuilt with the same vermagic (a distro's second upload of one ABI, a
rebuilt tree) loads the same patch, and where the compiler or linker moved a copy
the same position binds another one without a word. ``klp verify`` reads what each
position named on the build the module was made for (the record ``klp convert``
wrote into the module, klp/livepatch/converted.py, or the database given as
``--converted-with``), and checks that the target's copy at that position is the
same one: the same source file and the same kind of symbol (a function, data), the
identity that survives a rebuild where addresses and sizes do not (without source
files, as from System.map or /proc/kallsyms, the kind alone).
"""

from __future__ import annotations

from klp.convert.model import Problem, ProblemKind, SymbolLookup
from klp.livepatch import rules
from klp.symdb.format import SymbolDB
from klp.symdb.model import SymbolRecord
from klp.verify.check import Verdict


def check_intent(verdict: Verdict, target: SymbolLookup, built: SymbolDB, label: str
                 ) -> None:
    """Add a problem for each klp symbol and klp_func that lands on the target on
    another copy than it named on ``built`` (the database the module was converted
    with, or its record, called ``label``); a warning where they cannot tell."""
    places = [(b.symbol, b.obj, b.name, b.pos, b.lands, ProblemKind.BINDING)
              for b in verdict.bindings if b.lands is not None and b.problem is None]
    places += [(f.old_name, f.obj, f.old_name, f.old_sympos, f.lands, ProblemKind.FUNCTION)
               for f in verdict.functions if f.lands is not None and f.problem is None]
    names = sorted({name for _, _, name, _, _, _ in places})
    meant_found, target_found = built.lookup(names), target.lookup(names)
    known = set(built.objects())
    blind: list[str] = []
    for subject, obj, name, pos, lands, kind in places:
        if obj not in known:
            missing = (f"{label} has no object {obj}, so what the patch named in it cannot "
                       "be compared")
            if missing not in verdict.warnings:
                verdict.warnings.append(missing)
            continue
        named = [r for r in meant_found.get(name, []) if r.obj == obj]
        there = [r for r in target_found.get(name, []) if r.obj == obj]
        if lands.count == 1 and len(named) == 1:
            continue  # one copy on each: the name says which
        meant = rules.bind_position(named, pos, late=False)
        files = _has_files(named, there)
        same = None if isinstance(meant, str) else _same_copy(meant, lands, files)
        if isinstance(meant, str):
            verdict.warnings.append(f"{subject}: on {label}, the build it was converted for: "
                                    f"{meant}")
        elif same is False:
            copies = [r for r in there if _same_copy(meant, r, files) is not False]
            verdict.problems.append(Problem(
                kind, subject, f"position {pos} binds {_described(lands)} on the target, but "
                f"named {_described(meant)} on {label}, the build it was converted for; "
                f"{_where(copies, obj, name)}", [], [lands, *copies]))
        elif same is None:
            blind.append(subject)
    if blind:
        verdict.warnings.append(
            f"cannot tell whether {', '.join(blind)} bind the copies they named on {label}: "
            "one of the databases has no source files (System.map, /proc/kallsyms)")


def _has_files(*records: list[SymbolRecord]) -> bool:
    """Whether both databases name the source files of a name's copies (not System.map
    nor /proc/kallsyms)."""
    return all(any(r.file for r in copies) for copies in records)


def _same_copy(meant: SymbolRecord, record: SymbolRecord, files: bool) -> bool | None:
    """Whether ``record`` is the copy ``meant`` was, by what stays across rebuilds (its
    source file, "" for global data, and its kind, code or data; addresses and sizes
    change); None when the databases cannot tell."""
    kinds = rules.is_code(meant), rules.is_code(record)
    if None not in kinds and kinds[0] != kinds[1]:
        return False
    return meant.file == record.file if files else None


def _described(record: SymbolRecord) -> str:
    kind = "function" if rules.is_code(record) else "data"
    return f"the {kind} of {record.file}" if record.file else f"the {kind}"


def _where(copies: list[SymbolRecord], obj: str, name: str) -> str:
    """Where the meant copy is on the target, and what names it there."""
    if not copies:
        return "the target has no such copy: the patch was written for other code"
    if len(copies) > 1:
        return (f"the target has {len(copies)} such copies: convert the module again "
                "against the target's database")
    sympos = copies[0].sympos
    if sympos is None:
        return (f"on the target it is position {copies[0].pos}, which depends on load "
                "order: convert the module again against the target's database")
    return (f"on the target it is .klp.sym.{obj}.{name},{sympos}: convert the module again "
            "against the target's database")


def check_identity(verdict: Verdict, target: SymbolLookup, built: SymbolDB) -> None:
    """Warn for each object the module was converted for that the target has in
    another build: vmlinux or a module with another build ID, or a module built from
    other source (srcversion, as kpatch users asked to check). The positions are
    checked copy by copy; what the patch replaces may differ all the same."""
    for obj in built.objects():
        try:
            meant, there = built.object_meta(obj), target.object_meta(obj)
        except KeyError:
            continue  # verify's registration check says what the target lacks
        for key, what in (("srcversion", "was built from other source"),
                          ("build-id", "is another build")):
            if meant.get(key) and there.get(key) and meant[key] != there[key]:
                verdict.warnings.append(
                    f"{obj} on the target {what} than the module was converted for "
                    f"({key} {there[key][:24]}, converted for {meant[key][:24]}): each "
                    "position was checked against the copy it named, but the code the "
                    "patch replaces may differ too")
                break
