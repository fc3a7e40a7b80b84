"""``klp elf``: the sections, symbols and relocations of an ELF file, as users see them.

Rows are plain dicts so the same data feeds the rich tables and ``--json``.
"""

from __future__ import annotations

from typing import Any

from klp.elfcodec import describe
from klp.elfcodec.constants import SHT, STT
from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.symbols import SymbolTable

Row = dict[str, Any]


def symbol_label(elf: ElfFile, table: SymbolTable, index: int) -> str:
    """A symbol's name, or its section's name for an unnamed section symbol (as readelf)."""
    name = table.name(index)
    if not name and index and table.type(index) == STT.SECTION:
        shndx = table.shndx(index)
        if 0 < shndx < len(elf.sections):
            return elf.sections[shndx].name
    return name


def section_rows(elf: ElfFile) -> list[Row]:
    return [
        {
            "index": s.index,
            "name": s.name,
            "type": describe.section_type(s.sh_type),
            "address": s.sh_addr,
            "offset": s.sh_offset,
            "size": s.sh_size,
            "entsize": s.sh_entsize,
            "flags": describe.section_flags(s.sh_flags),
            "flag_names": describe.section_flag_names(s.sh_flags),
            "link": s.sh_link,
            "info": s.sh_info,
            "align": s.sh_addralign,
        }
        for s in elf.sections
    ]


def symbol_rows(elf: ElfFile) -> list[Row]:
    table = elf.symtab
    return [
        {
            "index": sym.index,
            "name": symbol_label(elf, table, sym.index),
            "value": sym.value,
            "size": sym.size,
            "type": describe.symbol_type(sym.type),
            "bind": describe.symbol_bind(sym.bind),
            "visibility": describe.symbol_visibility(sym.other),
            "other": sym.other,
            "section": describe.section_index(sym.shndx),
        }
        for sym in table
    ]


def reloc_rows(elf: ElfFile) -> list[Row]:
    rows: list[Row] = []
    for sec in elf.sections:
        if sec.sh_type != SHT.RELA:
            continue
        symbols = elf.symbols(elf.section(sec.sh_link))
        for rel in elf.rela(sec):
            name = symbol_label(elf, symbols, rel.sym) if rel.sym else ""
            rows.append(
                {
                    "section": sec.name,
                    "offset": rel.offset,
                    "type": elf.arch.reloc_name(rel.type),
                    "type_number": rel.type,
                    "symbol_index": rel.sym,
                    "symbol": name,
                    "addend": rel.addend,
                }
            )
    return rows
