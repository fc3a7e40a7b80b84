"""Decide every move of a conversion and check every rule, without touching the file.

The result is a :class:`Plan` plus a list of :class:`Problem`; ``--dry-run`` stops
here, and :mod:`klp.convert.rewrite` applies a plan that has no problems.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping

from klp.convert import rules
from klp.convert.annotations import Annotation, read_annotations
from klp.convert.model import Move, Plan, Problem, Reference, Resolution, SymbolLookup
from klp.elfcodec.constants import SHF, SHN, SHT
from klp.elfcodec.elffile import ElfFile
from klp.symdb.model import SymbolRecord

#: Symbols the module loader or the architecture code resolves itself.
NEVER_CONVERT = re.compile(
    r"\.TOC\.|_mcount|__fentry__|ftrace_.*|_GLOBAL_OFFSET_TABLE_"
    r"|__x86_return_thunk|__x86_indirect_(?:call_|jump_)?thunk_.*|__s390x?_indirect_jump_.*"
)


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
        problems.append(Problem("annotation", "", f"{err.section}+{err.offset:#x}: {err.reason}"))
    plan.drop_sections = sorted({s.index for s in annotations.sections})
    annotated = _annotated_names(annotations.entries, problems)

    table = elf.symtab
    symtab_index = elf.symtab_section.index
    skipped = set(plan.drop_sections)
    uses: dict[int, list[tuple[int, int]]] = defaultdict(list)  # symbol -> (rela sec, row)
    converted_before = False
    for sec in elf.sections_of_type(SHT.RELA):
        if sec.sh_flags & SHF.RELA_LIVEPATCH or sec.name.startswith(".klp.rela."):
            converted_before = True
            continue
        if sec.index in skipped or sec.sh_link != symtab_index:
            continue
        for row, info in enumerate(elf.rela(sec).infos):
            sym = info >> 32
            if sym and table.rows[sym][3] == SHN.UNDEF:
                uses[sym].append((sec.index, row))
    converted_before |= any(row[3] == SHN.LIVEPATCH for row in table.rows)

    wanted: dict[int, str] = {}
    for sym in sorted(uses):
        name = table.name(sym)
        if NEVER_CONVERT.fullmatch(name):
            continue
        if name in vmlinux_exports and name not in annotated:
            continue
        wanted[sym] = name
    for name in annotated:
        if name not in wanted.values():
            problems.append(Problem(
                "annotation", name,
                f"{name} is annotated with KLP_SYMPOS but no relocation of the module needs it"))

    for sym in wanted:
        plan.references[sym] = [_reference(elf, sec, row) for sec, row in uses[sym]]

    definitions = lookup.lookup(sorted(set(wanted.values()))) if lookup and wanted else {}
    for sym, name in wanted.items():
        resolution = _resolve(sym, name, annotated.get(name), definitions.get(name, []),
                              module_exports, lookup, plan.references[sym], problems)
        if resolution is not None:
            plan.resolutions.append(resolution)

    _plan_moves(elf, plan, uses, problems)
    if not wanted and converted_before and not annotations.entries:
        plan.already_converted = True
    modinfo = elf.find_section(".modinfo")
    if modinfo is None or b"livepatch=Y\0" not in modinfo.data:
        plan.warnings.append("the module's .modinfo has no livepatch=Y: the kernel will not "
                             "treat it as a livepatch")
    return plan, problems


def _annotated_names(
    entries: list[Annotation], problems: list[Problem]
) -> dict[str, Annotation]:
    chosen: dict[str, Annotation] = {}
    for entry in entries:
        seen = chosen.get(entry.name)
        if seen is None:
            chosen[entry.name] = entry
        elif (seen.obj, seen.pos) != (entry.obj, entry.pos):
            problems.append(Problem(
                "annotation", entry.name,
                f"conflicting annotations for {entry.name}: KLP_SYMPOS in "
                f"{seen.obj} position {seen.pos} and in {entry.obj} position {entry.pos}"))
    return chosen


def _reference(elf: ElfFile, rela_index: int, row: int) -> Reference:
    sec = elf.sections[rela_index]
    target = elf.rela_target(sec)
    off, info, _ = elf.rela(sec).rows[row]
    return Reference(sec.name, target.name if target else "?", off,
                     elf.arch.reloc_name(info & 0xFFFFFFFF))


def sympos_lines(name: str, candidates: list[SymbolRecord]) -> list[str]:
    """The annotation that selects each candidate (none for a load-order-dependent one)."""
    lines = []
    for d in candidates:
        if d.sympos is None:
            lines.append(f"/* {d.obj} position {d.pos}: no position selects it in both "
                         "load orders */")
        else:
            lines.append(f"KLP_MODULE_RELOC({d.obj}) ... = {{ KLP_SYMPOS({name}, {d.sympos}) }};")
    return lines


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
    if note is not None:
        in_obj = [d for d in defs if d.obj == note.obj]
        count = in_obj[0].count if in_obj else 0
        if lookup is not None:
            bad = None
            if not in_obj:
                bad = f"KLP_SYMPOS({name}, {note.pos}) names object {note.obj}, which does " \
                      f"not define {name}"
            elif note.pos == 0 and count != 1:
                bad = f"KLP_SYMPOS({name}, 0) requires a unique name, but {note.obj} " \
                      f"defines {name} {count} times"
            elif note.pos > count:
                bad = f"KLP_SYMPOS({name}, {note.pos}): {note.obj} defines {name} only " \
                      f"{count} time{'s' if count != 1 else ''}"
            else:
                chosen = in_obj[max(note.pos, 1) - 1]
                late = chosen.late_count == 1 if note.pos == 0 else chosen.late_pos == note.pos
                if not late:
                    bad = _load_order_trap(name, note.obj, note.pos, chosen)
            if bad:
                problems.append(Problem("annotation", name, bad, refs, defs,
                                        sympos_lines(name, defs)))
                return None
        return Resolution(sym, name, note.obj, note.pos, "annotation")
    if len(defs) == 1:
        if defs[0].sympos != 0:
            problems.append(Problem("rule", name, _load_order_trap(name, defs[0].obj, 0, defs[0]),
                                    refs, defs, sympos_lines(name, defs)))
            return None
        return Resolution(sym, name, defs[0].obj, 0, "unique")
    if not defs and name in module_exports:
        return Resolution(sym, name, module_exports[name], 0, "module export")
    if not defs:
        hints = lookup.closest(name, 5) if lookup is not None else []
        why = "is not in the symbol database" if lookup is not None else \
              "is not exported, and no symbol database was given (--symdb)"
        problems.append(Problem("unknown", name, f"{name} {why}", refs, [],
                                [f"did you mean {h}?" for h in hints]))
        return None
    objects = sorted({d.obj for d in defs})
    where = f"in {objects[0]}" if len(objects) == 1 else f"in {len(objects)} objects"
    problems.append(Problem(
        "ambiguous", name, f"{name} is defined {len(defs)} times {where}; "
        "annotate the one you mean", refs, defs, sympos_lines(name, defs)))
    return None


def _load_order_trap(name: str, obj: str, pos: int, rec: SymbolRecord) -> str:
    # kernel: kernel/module/kallsyms.c keeps only core symbols once a module is live,
    # but a module that loads after the patch is searched over its full symtab.
    return (f"position {pos} of {name} in {obj} depends on load order: it is "
            f"{rec.pos} of {rec.count} while {obj} is loaded, {rec.late_pos} of "
            f"{rec.late_count} when {obj} loads after the patch")


def _plan_moves(
    elf: ElfFile,
    plan: Plan,
    uses: Mapping[int, list[tuple[int, int]]],
    problems: list[Problem],
) -> None:
    arch = elf.arch
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for res in plan.resolutions:
        for check in (rules.object_name(res.obj), rules.symbol_name(res.name)):
            if check:
                problems.append(Problem("rule", res.name, check, plan.references[res.symbol_index]))
        for rela_index, row in uses[res.symbol_index]:
            rela = elf.sections[rela_index]
            target = elf.rela_target(rela)
            if target is None or not target.sh_flags & SHF.ALLOC:
                continue  # never applied by the loader (debug info): left as it is
            off, info, _ = elf.rela(rela).rows[row]
            rtype = info & 0xFFFFFFFF
            for reason in (
                rules.target_section(target, res.obj),
                rules.relocation_type(arch, rtype),
                rules.ppc64_call_has_nop(arch, rtype, target.data, off),
            ):
                if reason:
                    problems.append(Problem(
                        "rule", res.name, f"{target.name}+{off:#x} ({arch.reloc_name(rtype)} "
                        f"against {res.name}): {reason}", [_reference(elf, rela_index, row)]))
            late = rules.late_write(arch, target, res.obj)
            if late and late not in plan.warnings:
                plan.warnings.append(late)
            groups[(rela_index, res.obj)].append(row)
    for (rela_index, obj), rows in sorted(groups.items()):
        target = elf.rela_target(elf.sections[rela_index])
        assert target is not None
        plan.moves.append(Move(rela_index, obj, target.name, tuple(sorted(rows))))
    new_sections = len({m.klp_section for m in plan.moves})
    too_many = rules.section_count(len(elf.sections) + new_sections - len(plan.drop_sections))
    if too_many:
        problems.append(Problem("rule", "", too_many))
