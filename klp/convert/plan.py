"""Decide every move of a conversion and check every rule, without touching the file.

The result is a :class:`Plan` plus a list of :class:`Problem`; ``--dry-run`` stops
here, and :mod:`klp.convert.rewrite` applies a plan that has no problems.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from klp.convert.annotations import (
    RELOC_SYMBOL_PREFIX,
    Annotation,
    read_annotations,
    read_reloc_symbol,
    reloc_symbol_macro,
)
from klp.convert.model import (
    KnownObjects,
    Move,
    Plan,
    Problem,
    ProblemKind,
    Reason,
    Reference,
    Resolution,
    SymbolLookup,
)
from klp.convert.places import SourceFile, SourceMap
from klp.elfcodec.constants import SHF, SHN, SHT
from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.kmod import modinfo
from klp.livepatch import rules
from klp.livepatch.declarations import read_declarations
from klp.livepatch.registration import check_registration, read_registration
from klp.symdb.model import SymbolRecord

if TYPE_CHECKING:
    from klp.symdb.variants import Variant


def plan_conversion(
    elf: ElfFile,
    lookup: SymbolLookup | None,
    vmlinux_exports: set[str],
    module_exports: Mapping[str, str],
) -> tuple[Plan, list[Problem]]:
    """Plan the conversion of a livepatch module.

    ``vmlinux_exports`` are names the module loader resolves; ``module_exports``
    maps names exported by modules to their object (they are converted, so the
    patch does not depend on the module).
    """
    plan = Plan()
    problems: list[Problem] = []
    annotations = read_annotations(elf)
    for err in annotations.errors:
        problems.append(Problem(ProblemKind.ANNOTATION, "",
                                f"{err.section}+{err.offset:#x}: {err.reason}"))
    plan.drop_sections = sorted({s.index for s in annotations.sections})
    sources = SourceMap(elf)
    annotated = _annotation_scopes(annotations.entries, sources, problems)

    table = elf.symtab
    symtab_index = elf.symtab_section.index
    skipped = set(plan.drop_sections)
    uses: dict[int, list[tuple[int, int]]] = defaultdict(list)  # symbol -> (rela sec, row)
    undefined = set(table.indices_in(SHN.UNDEF))
    undefined.discard(0)
    converted_before = False
    klp_objects: set[str] = set()  #: objects of the input's own klp relocations
    for sec in elf.sections_of_type(SHT.RELA):
        if sec.sh_flags & SHF.RELA_LIVEPATCH or sec.name.startswith(rules.KLP_RELA_PREFIX):
            converted_before = True
            obj = rules.parse_klp_section(sec.name)
            if obj is not None:
                klp_objects.add(obj)
            continue
        if sec.index in skipped or sec.sh_link != symtab_index:
            continue
        symbols = elf.rela(sec).symbols()
        if undefined.isdisjoint(symbols):  # most sections (the DWARF's): a pass in C
            continue
        for row, sym in enumerate(symbols):
            if sym in undefined:
                uses[sym].append((sec.index, row))
    converted_before |= bool(table.indices_in(SHN.LIVEPATCH))

    wanted: dict[int, str] = {}
    named = _reloc_symbols(elf, sources, uses, plan, problems)
    for sym in sorted(uses):
        name = table.name(sym)
        if sym in named:
            wanted[sym] = named[sym].name
            continue
        if rules.provided(name) or name.startswith(RELOC_SYMBOL_PREFIX):
            continue
        if name in vmlinux_exports and name not in annotated:
            continue
        wanted[sym] = name
    plain = {name for sym, name in wanted.items() if sym not in named}
    for name in annotated:
        if name not in plain:
            problems.append(Problem(
                ProblemKind.ANNOTATION, name,
                f"{name} is annotated with KLP_SYMPOS but no relocation of the module needs it"))

    definitions = lookup.lookup(sorted(set(wanted.values()) | set(rules.INIT_MEMORY_BOUNDS))) \
        if lookup and wanted else {}
    init_memory = rules.init_memory(definitions)
    for sym, name in wanted.items():
        scope = annotated.get(name)
        if sym in named:
            groups = [_Group(named[sym], uses[sym], [])]
        elif scope is not None and scope.broken:
            continue
        elif scope is None or scope.everywhere is not None:
            note = scope.everywhere if scope else None
            groups = [_Group(note, uses[sym], [])]
        else:
            groups = _split_by_file(elf, sources, name, scope, uses[sym], problems)
        for group in groups:
            refs = [_reference(elf, sources, sec, row) for sec, row in group.uses]
            resolution = _resolve(sym, name, group.note, definitions.get(name, []),
                                  module_exports, lookup, refs, problems)
            if resolution is not None:
                _check_init_memory(resolution, definitions.get(name, []), init_memory, refs,
                                   plan, problems)
                plan.resolutions.append(resolution._replace(
                    uses=tuple(group.uses), references=tuple(refs),
                    source=", ".join(group.files) or None))

    _point_at_declared_kind(elf, problems)
    module_info = modinfo(elf)
    version = rules.kernel_version(module_info.get("vermagic", "")) or (
        rules.kernel_version(lookup.kernel_release) if lookup is not None else None)
    _plan_moves(elf, sources, plan, version, problems)
    if not wanted and converted_before and not annotations.entries and not named:
        plan.already_converted = True
    not_livepatch = rules.livepatch_flag(module_info)
    if not_livepatch:
        problems.append(Problem(ProblemKind.MODULE, "", not_livepatch, forcible=True))
    plan.registration = read_registration(elf)
    findings, warnings = check_registration(
        plan.registration, {m.obj for m in plan.moves} | klp_objects, version,
        KnownObjects(lookup) if lookup is not None else None,
        lookup.builtin_modules if lookup is not None else ())
    plan.warnings += warnings
    problems += [Problem(ProblemKind.REGISTRATION, f.subject, f.message, forcible=f.forcible)
                 for f in findings]
    return plan, problems


def _reloc_symbols(elf: ElfFile, sources: SourceMap, uses: Mapping[int, list[tuple[int, int]]],
                   plan: Plan, problems: list[Problem]) -> dict[int, Annotation]:
    """The KLP_RELOC_SYMBOL annotations: the undefined symbols that name their own
    object and position, by symbol index. A vmlinux symbol is given to vmlinux's klp
    section whatever object the annotation gates it by: the kernel refuses it in a
    module's, and vmlinux's is applied first, when the patch loads."""
    table = elf.symtab
    named: dict[int, Annotation] = {}
    for sym, used in uses.items():
        symbol = table.name(sym)
        if not symbol.startswith(RELOC_SYMBOL_PREFIX):
            continue
        note = read_reloc_symbol(symbol)
        if isinstance(note, str):
            problems.append(Problem(ProblemKind.ANNOTATION, symbol, note,
                                    [_reference(elf, sources, *use) for use in used]))
            continue
        if note.obj == "vmlinux" and note.gate != "vmlinux":
            plan.warnings.append(
                f"{note.written}: the kernel refuses a vmlinux symbol in module {note.gate}'s "
                f"klp section; klp puts it in vmlinux's, applied when the patch loads "
                f"({reloc_symbol_macro('vmlinux', 'vmlinux', note.name, note.pos)})")
            note = note._replace(gate="vmlinux")
        named[sym] = note
    return named


class _Scope:
    """The KLP_SYMPOS annotations of one name.

    When they all agree, the choice applies to every use (as in the v7
    proposal). When source files disagree, each file's annotation applies to
    the uses in that file, and the symbol is split.
    """

    __slots__ = ("broken", "by_file", "everywhere")

    def __init__(self) -> None:
        self.everywhere: Annotation | None = None
        self.by_file: dict[SourceFile, Annotation] = {}
        self.broken = False  #: a problem is already reported for it


class _Group(NamedTuple):
    """Uses of one symbol that resolve to the same copy."""

    note: Annotation | None
    uses: list[tuple[int, int]]
    files: list[str]  #: whose annotations chose it, if split


def _annotation_scopes(
    entries: list[Annotation], sources: SourceMap, problems: list[Problem]
) -> dict[str, _Scope]:
    by_name: dict[str, list[Annotation]] = defaultdict(list)
    for entry in entries:
        by_name[entry.name].append(entry)
    scopes: dict[str, _Scope] = {}
    for name, notes in by_name.items():
        scope = scopes[name] = _Scope()
        if len({(n.obj, n.pos) for n in notes}) == 1:
            scope.everywhere = notes[0]
            continue
        twice = _conflict_in_one_array(notes, sources)
        if twice:
            scope.broken = True
            problems.append(Problem(ProblemKind.ANNOTATION, name, twice))
            continue
        for note in notes:
            source = sources.file_of(note.shndx, note.offset)
            if source is None:
                scope.broken = True
                problems.append(Problem(
                    ProblemKind.ANNOTATION, name,
                    f"{name} is annotated differently in several places, and the source "
                    f"file of {_sympos(note)} ({note.section}+{note.offset:#x}) is unknown: "
                    "declare the array static (static KLP_MODULE_RELOC(...)) so that its "
                    "symbol records the file"))
                continue
            seen = scope.by_file.setdefault(source, note)
            if (seen.obj, seen.pos) != (note.obj, note.pos):
                scope.broken = True
                problems.append(Problem(
                    ProblemKind.ANNOTATION, name,
                    f"conflicting annotations for {name} in {source.name}: {_sympos(seen)} "
                    f"and {_sympos(note)}; one source file can mean only one copy of a name "
                    "(put the uses that need the other copy in another file)"))
    return scopes


def _conflict_in_one_array(notes: list[Annotation], sources: SourceMap) -> str | None:
    """One KLP_MODULE_RELOC array that annotates a name twice, differently (whatever
    its file, which a non-static array does not record)."""
    by_array: dict[tuple[int, str], list[Annotation]] = defaultdict(list)
    for note in notes:
        if note.array is not None:
            by_array[(note.shndx, note.array)].append(note)
    for (_, array), same in by_array.items():
        choices = {(n.obj, n.pos): n for n in same}
        if len(choices) > 1:
            first, second = list(choices.values())[:2]
            source = sources.file_of(first.shndx, first.offset)
            where = f"{source.name} (array {array})" if source else f"the array {array}"
            return (f"conflicting annotations for {first.name} in {where}: {_sympos(first)} "
                    f"and {_sympos(second)}; one array, like one source file, can mean only "
                    "one copy of a name (put the uses that need the other copy in another "
                    "file)")
    return None


def _sympos(note: Annotation) -> str:
    return f"KLP_SYMPOS({note.name}, {note.pos}) for {note.obj}"


def _split_by_file(
    elf: ElfFile,
    sources: SourceMap,
    name: str,
    scope: _Scope,
    uses: list[tuple[int, int]],
    problems: list[Problem],
) -> list[_Group]:
    """Group the uses of a name by the annotation of the source file each comes from.

    Uses that are never applied (debug info) follow the first group, which keeps
    the original symbol.
    """
    groups: dict[tuple[str, int], _Group] = {}
    used: set[SourceFile] = set()
    unapplied: list[tuple[int, int]] = []
    lost: list[tuple[str, tuple[int, int]]] = []
    for use in uses:
        rela = elf.sections[use[0]]
        target = rules.loaded_target(elf, rela)
        if target is None:
            unapplied.append(use)
            continue
        source = sources.file_of(target.index, elf.rela(rela).relocation(use[1]).offset)
        note = scope.by_file.get(source) if source else None
        if source is None or note is None:
            lost.append((source.name if source else "an unknown source file", use))
            continue
        group = groups.setdefault((note.obj, note.pos), _Group(note, [], []))
        group.uses.append(use)
        if source not in used:
            used.add(source)
            group.files.append(source.name)
    annotating = ", ".join(f"{f.name} ({_sympos(n)})" for f, n in sorted(scope.by_file.items()))
    for source_name, use in lost:
        problems.append(Problem(
            ProblemKind.ANNOTATION, name,
            f"{name} is annotated differently by {annotating}, and this use comes from "
            f"{source_name}, which has no annotation for it: annotate it in the file that "
            "uses it (a use in a global function has a known file only with debug info: "
            "build with -g, make the function static, or move the use into a static helper)",
            [_reference(elf, sources, *use)]))
    for source, note in sorted(scope.by_file.items()):
        if source not in used:
            problems.append(Problem(
                ProblemKind.ANNOTATION, name,
                f"{_sympos(note)} in {source.name}: no relocation from {source.name} uses {name}"))
    if lost or len(used) < len(scope.by_file):
        return []
    ordered = list(groups.values())
    ordered[0].uses.extend(unapplied)
    return ordered


def _reference(elf: ElfFile, sources: SourceMap, rela_index: int, row: int) -> Reference:
    sec = elf.sections[rela_index]
    target = elf.rela_target(sec)
    rel = elf.rela(sec).relocation(row)
    kind = elf.arch.reloc_name(rel.type)
    if target is None:
        return Reference(sec.name, "?", rel.offset, kind)
    return Reference(sec.name, target.name, rel.offset, kind,
                     sources.function_at(target.index, rel.offset),
                     sources.line_at(target.index, rel.offset))


def sympos_lines(name: str, candidates: list[SymbolRecord], gate: str | None = None
                 ) -> list[str]:
    """The annotation that selects each candidate (none for a load-order-dependent one):
    KLP_SYMPOS, or KLP_RELOC_SYMBOL when the module uses that (``gate``, its object
    of the klp section, kept for another module's symbol)."""
    lines = []
    for d in candidates:
        if d.sympos is None:
            lines.append(f"/* {d.obj} position {d.pos}: no position selects it in both "
                         "load orders */")
        elif gate is not None:
            keep = gate != "vmlinux" and d.obj != "vmlinux"
            lines.append(reloc_symbol_macro(gate if keep else d.obj, d.obj, name, d.sympos))
        else:
            lines.append(f"KLP_MODULE_RELOC({d.obj}) ... = {{ KLP_SYMPOS({name}, {d.sympos}) }};")
    return lines


def _unknown(name: str, lookup: SymbolLookup, refs: list[Reference]) -> Problem:
    """A name the database lacks: the compiler's names for it (variants.py), each with
    what to do, else the names that look like it."""
    from klp.symdb import variants  # a problem's hints: not on a conversion's way

    found = variants.records(name, lookup)
    if not found and lookup.objects() == ["vmlinux"]:
        return Problem(ProblemKind.UNKNOWN, name, f"{name} is not in vmlinux, and the symbol "
                       "database has no modules: if it is a module's, rebuild the database "
                       "with --modules", refs)
    if not found:
        return Problem(ProblemKind.UNKNOWN, name, f"{name} is not in the symbol database",
                       refs, [], [f"did you mean {h}?" for h in lookup.closest(name, 5)])
    lines = [_variant_line(name, v, r) for v, r in found]
    if len(lines) > variants.HINTS:
        rest = len(lines) - variants.HINTS
        query = " ".join(dict.fromkeys(v.name for v, _ in found))
        lines = [*lines[:variants.HINTS], f"... and {rest} more (klp symdb query {query})"]
    if any(v.kind.same_symbol for v, _ in found):
        message = (f"{name} is not in the symbol database under that name: the compiler "
                   f"named it otherwise; to mean one of these, declare {name} with its line "
                   "(#include <klp-reloc.h>)")
    else:
        message = (f"{name} is not in the symbol database: the compiler left only copies of "
                   "it, and none can stand in for it")
    return Problem(ProblemKind.UNKNOWN, name, message, refs, [], lines)


def _variant_line(name: str, variant: Variant, record: SymbolRecord) -> str:
    """One kernel symbol a source name became, what it is, and the line that names it
    when naming it is right."""
    from klp.symdb import variants

    where = f"{variant.name} in {record.obj}" + (f" ({record.file})" if record.file else "")
    what = variants.explain(name, variant)
    if not variant.kind.same_symbol:
        return f"{where}: {what}"
    if record.sympos is None:
        return f"{where}: {what}: no position selects it in both load orders"
    line = reloc_symbol_macro(record.obj, record.obj, variant.name, record.sympos)
    return f"{where}: {what}: {line}"


def _resolve(
    sym: int,
    name: str,
    note: Annotation | None,
    defs: list[SymbolRecord],
    module_exports: Mapping[str, str],
    lookup: SymbolLookup | None,
    refs: list[Reference],
    problems: list[Problem],
) -> Resolution | None:
    """Choose the object and position for a name, from its annotation or the symdb."""
    if note is not None:
        if lookup is not None:
            in_obj = [d for d in defs if d.obj == note.obj]
            bound = rules.bind_position(in_obj, note.pos, late=False)
            bad = None
            missing = next((o for o in (note.obj, note.gate) if o and not lookup.has_object(o)),
                           None)
            inside = missing and rules.built_in(missing, lookup.builtin_modules)
            if inside:
                bad = f"{note.written} names object {missing}: {inside}; name vmlinux"
                problems.append(Problem(ProblemKind.ANNOTATION, name, bad, refs, defs,
                                        sympos_lines(name, [d for d in defs
                                                            if d.obj == "vmlinux"], note.gate)))
                return None
            if missing is not None:
                bad = (f"{note.written} names object {missing}, which the symbol database "
                       "does not have: check the object name (a module's kernel name, '_' for "
                       "'-'), or rebuild the database with that module")
            elif isinstance(bound, str):
                bad = f"{note.written} in {note.obj}: {bound}"
            elif rules.bind_position(in_obj, note.pos, late=True) != bound:
                # a module that loads after the patch: its whole symtab counts
                bad = _load_order_trap(name, note.obj, note.pos, bound)
            if bad:
                problems.append(Problem(ProblemKind.ANNOTATION, name, bad, refs, defs,
                                        sympos_lines(name, defs, note.gate)))
                return None
        return Resolution(sym, name, note.obj, note.pos, Reason.ANNOTATION, gate=note.gate)
    if len(defs) == 1:
        if defs[0].sympos != 0:
            problems.append(Problem(ProblemKind.RULE, name,
                                    _load_order_trap(name, defs[0].obj, 0, defs[0]),
                                    refs, defs, sympos_lines(name, defs)))
            return None
        return Resolution(sym, name, defs[0].obj, 0, Reason.UNIQUE)
    if not defs and name in module_exports:
        return Resolution(sym, name, module_exports[name], 0, Reason.MODULE_EXPORT)
    if not defs:
        if lookup is None:
            problems.append(Problem(ProblemKind.UNKNOWN, name, f"{name} is not exported, and "
                                    "no symbol database was given (--symdb)", refs))
        else:
            problems.append(_unknown(name, lookup, refs))
        return None
    objects = sorted({d.obj for d in defs})
    where = f"in {objects[0]}" if len(objects) == 1 else f"in {len(objects)} objects"
    problems.append(Problem(
        ProblemKind.AMBIGUOUS, name, f"{name} is defined {len(defs)} times {where}; "
        "annotate the one you mean", refs, defs, sympos_lines(name, defs)))
    return None


def _point_at_declared_kind(elf: ElfFile, problems: list[Problem]) -> None:
    """An ambiguous name the patch declares as a function, or as a variable, whose
    copies are not all of that kind: say which are, and put their annotations first
    (the patch's DWARF, when it has some; read only when a name is ambiguous)."""
    ambiguous = [i for i, p in enumerate(problems) if p.kind == ProblemKind.AMBIGUOUS]
    declared = read_declarations(elf) if ambiguous else None
    if declared is None:
        return
    for i in ambiguous:
        problem = problems[i]
        name = problem.symbol
        function = declared.kind(None, name, None)
        fits = [c for c in problem.candidates if rules.is_code(c) is function]
        if function is None or not fits or len(fits) == len(problem.candidates):
            continue
        listed = ", ".join(f"{c.obj} position {c.pos}" + (f" ({c.file})" if c.file else "")
                           for c in fits)
        problems[i] = problem._replace(
            message=f"{problem.message}; the patch declares {name} as "
                    f"{'a function' if function else 'a variable'}, which only {listed} "
                    f"{'is' if len(fits) == 1 else 'are'}",
            suggestions=sympos_lines(name, fits))


def _check_init_memory(res: Resolution, defs: list[SymbolRecord],
                       memory: rules.InitMemory | None, refs: list[Reference], plan: Plan,
                       problems: list[Problem]) -> None:
    """Refuse a vmlinux function or variable the kernel has freed by the time the patch
    loads (worded as verify words it, so that --force says it once)."""
    if res.obj != "vmlinux":
        return
    record = rules.bind_position([d for d in defs if d.obj == "vmlinux"], res.pos, late=False)
    if isinstance(record, str):
        return
    freed = rules.freed_after_boot(record, memory)
    if freed is None:
        return
    reason, known = freed
    if known:
        problems.append(Problem(ProblemKind.RULE, res.name, reason, refs, [record],
                                forcible=True))
    elif reason not in plan.warnings:
        plan.warnings.append(reason)


def _load_order_trap(name: str, obj: str, pos: int, rec: SymbolRecord) -> str:
    # kernel: kernel/module/kallsyms.c keeps only core symbols once a module is live,
    # but a module that loads after the patch is searched over its full symtab.
    return (f"position {pos} of {name} in {obj} depends on load order: it is "
            f"{rec.pos} of {rec.count} while {obj} is loaded, {rec.late_pos} of "
            f"{rec.late_count} when {obj} loads after the patch")


def _plan_moves(elf: ElfFile, sources: SourceMap, plan: Plan,
                version: tuple[int, int] | None, problems: list[Problem]) -> None:
    arch = elf.arch
    groups: dict[tuple[int, str, str], list[int]] = defaultdict(list)
    late_writes: dict[str, tuple[str, list[Reference]]] = {}
    for res in plan.resolutions:
        gate = res.section_obj
        for check in (rules.object_name(res.obj), rules.object_name(gate) if res.gate else None,
                      rules.symbol_name(res.name, version)):
            if check:
                problems.append(Problem(ProblemKind.RULE, res.name, check, list(res.references)))
        crossing = rules.klp_section_object(gate, res.klp_name, res.obj)
        if crossing and crossing[1]:
            problems.append(Problem(ProblemKind.RULE, res.name, crossing[0],
                                    list(res.references), forcible=True))
        elif crossing and crossing[0] not in plan.warnings:
            plan.warnings.append(crossing[0])
        for (rela_index, row), ref in zip(res.uses, res.references, strict=True):
            rela = elf.sections[rela_index]
            target = rules.loaded_target(elf, rela)
            if target is None:
                continue  # never applied by the loader (debug info): left as it is
            rel = elf.rela(rela).relocation(row)
            off, rtype = rel.offset, rel.type
            for reason in (
                rules.target_section(target, gate),
                rules.relocation_type(arch, rtype),
                rules.ppc64_call_has_nop(arch, rtype, target.data, off),
            ):
                if reason:
                    problems.append(Problem(
                        ProblemKind.RULE, res.name,
                        f"{target.name}+{off:#x} ({arch.reloc_name(rtype)} "
                        f"against {res.name}): {reason}",
                        [ref]))
            late = rules.late_write(arch, target, gate)
            if late and late[1]:
                # per klp section and worded as verify words it, so that --force says it once
                klp_section = rules.klp_section_name(gate, target.name)
                late_writes.setdefault(klp_section, (late[0], []))[1].append(ref)
            for warning in (late[0] if late and not late[1] else None,
                            rules.module_reload(arch, gate, rtype, target.data, off,
                                                version)):
                if warning and warning not in plan.warnings:
                    plan.warnings.append(warning)
            groups[(rela_index, gate, target.name)].append(row)
    for klp_section, (why, refs) in sorted(late_writes.items()):
        problems.append(Problem(ProblemKind.SECTION, "", f"{klp_section}: {why}", refs,
                                forcible=True))
    for (rela_index, obj, target_name), rows in sorted(groups.items()):
        plan.moves.append(Move(rela_index, obj, target_name, tuple(sorted(rows))))
    new_sections = len({m.klp_section for m in plan.moves})
    too_many = rules.section_count(len(elf.sections) + new_sections - len(plan.drop_sections))
    if too_many:
        problems.append(Problem(ProblemKind.RULE, "", too_many))
