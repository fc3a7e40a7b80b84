"""Apply a conversion :class:`~klp.convert.model.Plan` through the codec's editing API."""

from __future__ import annotations

from collections import defaultdict

from klp.convert.model import Plan
from klp.elfcodec.constants import SHF, SHN, SHT, STB, st_info
from klp.elfcodec.elffile import ElfFile, Section

KLP_RELA_FLAGS = SHF.ALLOC | SHF.INFO_LINK | SHF.RELA_LIVEPATCH


def _klp_section(elf: ElfFile, name: str, target: Section) -> Section:
    """The klp RELA section ``name`` for ``target``, reused when the input has it."""
    for sec in elf.sections_of_type(SHT.RELA):
        if sec.name == name and sec.sh_info == target.index:
            return sec
    return elf.add_rela_section(name, target, flags=KLP_RELA_FLAGS)


def apply_plan(elf: ElfFile, plan: Plan) -> None:
    _klp_symbols(elf, plan)
    by_source: dict[int, dict[Section, list[int]]] = defaultdict(dict)
    sources: list[Section] = []
    for move in plan.moves:
        src = elf.sections[move.rela_section]
        dst = _klp_section(elf, move.klp_section, elf.section(src.sh_info))
        if src.index not in by_source:
            sources.append(src)
        by_source[src.index].setdefault(dst, []).extend(move.rows)
    for src in sources:
        elf.move_relocations(src, by_source[src.index])

    doomed = [elf.sections[i] for i in plan.drop_sections]
    doomed += [s for s in sources if not elf.rela(s).rows]
    _drop_annotation_symbols(elf, {s.index for s in doomed})
    elf.remove_sections(doomed)


def _klp_symbols(elf: ElfFile, plan: Plan) -> None:
    """Turn each resolved symbol into its klp symbol, in place. One ELF symbol can
    name only one copy, so every later resolution of the same symbol (a split)
    gets a new klp symbol, and its relocations are pointed at it before they move."""
    table = elf.symtab
    done: set[int] = set()
    for res in plan.resolutions:
        if res.symbol_index not in done:
            done.add(res.symbol_index)
            elf.rename_symbol(res.symbol_index, res.klp_name)
            elf.set_symbol(res.symbol_index, st_shndx=SHN.LIVEPATCH, st_value=0, st_size=0)
            continue
        index = res.symbol_index
        bind = table.bind(index) or STB.GLOBAL  # a local would be inserted, renumbering others
        copy = elf.add_symbol(res.klp_name, info=st_info(bind, table.type(index)),
                              other=table.other(index), shndx=SHN.LIVEPATCH)
        for rela_index, row in res.uses:
            elf.set_relocation_symbol(elf.sections[rela_index], row, copy)


def _drop_annotation_symbols(elf: ElfFile, doomed: set[int]) -> None:
    """Symbols defined in removed sections (the KLP_MODULE_RELOC arrays and their
    section symbols) go, with every relocation elsewhere that still points at
    them: debug info built with -g refers to the annotation arrays too."""
    table = elf.symtab
    gone = {i for i in range(1, len(table)) if table.shndx(i) in doomed}
    if not gone:
        return
    for sec in elf.sections_of_type(SHT.RELA):
        if sec.index in doomed or sec.sh_link != elf.symtab_section.index:
            continue
        elf.remove_relocations(sec, [row for row, sym in enumerate(elf.rela(sec).symbols())
                                     if sym in gone])
    elf.remove_symbols(gone)
