"""The annotations that say which object and position a symbol means, in both
dialects a livepatch source can use.

- KLP_MODULE_RELOC / KLP_SYMPOS (the klp-convert v7 proposal, klp-reloc.h):
  ``.klp.module_relocs.<obj>`` sections. Each entry is 12 packed bytes {u64 symbol
  pointer; u32 position} in the file's byte order, and the compiler emits one
  absolute relocation for its pointer. An entry is paired with its relocation by
  r_offset (not by table order).
- KLP_RELOC_SYMBOL / KLP_RELOC_SYMBOL_POS (the later "minimal" klp-convert
  proposal, which SUSE's kernels and klp-build use): the symbol's own name,
  ``.klp.sym.rela.<gate>.<obj>.<name>,<pos>``, where ``gate`` is the object whose
  klp section applies the relocations (v3 of the proposal writes ``.<pos>``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from klp.elfcodec.constants import SHT, STT
from klp.elfcodec.elffile import ElfFile, Section

PREFIX = ".klp.module_relocs."


class Annotation(NamedTuple):
    name: str  #: the annotated symbol (its ELF name, e.g. an asm label)
    obj: str
    pos: int
    section: str
    shndx: int  #: the annotation section's index
    offset: int  #: of the entry in its section
    array: str | None = None  #: the KLP_MODULE_RELOC array (its symbol) holding the entry
    #: KLP_RELOC_SYMBOL's first object, whose klp section applies the relocations
    #: (None: KLP_SYMPOS, whose object does both)
    gate: str | None = None

    @property
    def written(self) -> str:
        """The annotation as the source spells it."""
        if self.gate is None:
            return f"KLP_SYMPOS({self.name}, {self.pos})"
        return reloc_symbol_macro(self.gate, self.obj, self.name, self.pos)


class AnnotationError(NamedTuple):
    section: str
    offset: int
    reason: str


class Annotations(NamedTuple):
    entries: list[Annotation]
    errors: list[AnnotationError]
    #: The annotation sections and their RELA sections, to be removed on output.
    sections: list[Section]


def read_annotations(elf: ElfFile) -> Annotations:
    codec = elf.codecs.KlpModuleReloc
    found = Annotations([], [], [])
    for sec in elf.sections:
        if not sec.name.startswith(PREFIX) or sec.sh_type == SHT.RELA:
            continue
        obj = sec.name[len(PREFIX) :]
        found.sections.append(sec)
        data = sec.data
        if len(data) % codec.size:
            found.errors.append(AnnotationError(
                sec.name, 0, f"size {len(data)} is not a multiple of {codec.size}-byte entries"))
            continue
        rela = elf.rela_of(sec)
        if rela is None:
            if data:
                found.errors.append(AnnotationError(sec.name, 0, "has no relocations"))
            continue
        found.sections.append(rela)
        symbols = elf.symbols(elf.section(rela.sh_link))
        arrays = _arrays(elf, sec)
        paired: set[int] = set()
        for rel in elf.rela(rela):
            if rel.offset % codec.size or rel.offset + codec.size > len(data):
                found.errors.append(AnnotationError(
                    sec.name, rel.offset, "relocation does not start an entry"))
                continue
            if rel.type != elf.arch.abs64:
                found.errors.append(AnnotationError(
                    sec.name, rel.offset,
                    f"relocation {elf.arch.reloc_name(rel.type)} is not the 64-bit absolute "
                    f"{elf.arch.reloc_name(elf.arch.abs64)} a KLP_SYMPOS pointer needs"))
                continue
            if rel.offset in paired:
                found.errors.append(AnnotationError(
                    sec.name, rel.offset, "two relocations for one entry"))
                continue
            paired.add(rel.offset)
            _, pos = codec.unpack_one(data, rel.offset)
            array = next((a for start, end, a in arrays if start <= rel.offset < end), None)
            found.entries.append(Annotation(symbols.name(rel.sym), obj, pos, sec.name,
                                            sec.index, rel.offset, array))
        for entry in range(0, len(data), codec.size):
            if entry not in paired:
                found.errors.append(AnnotationError(sec.name, entry, "entry has no relocation"))
    return found


#: The undefined symbols that KLP_RELOC_SYMBOL names.
RELOC_SYMBOL_PREFIX = ".klp.sym.rela."
_RELOC_SYMBOL = re.compile(r"([^.]+)\.([^.]+)\.(.+)[,.]([0-9]+)", re.DOTALL)


def reloc_symbol_macro(gate: str, obj: str, name: str, pos: int) -> str:
    """The KLP_RELOC_SYMBOL line that writes this choice (klp-reloc.h)."""
    if pos == 0:
        return f"KLP_RELOC_SYMBOL({gate}, {obj}, {name})"
    return f"KLP_RELOC_SYMBOL_POS({gate}, {obj}, {name}, {pos})"


def read_reloc_symbol(symbol: str) -> Annotation | str:
    """The choice a ``.klp.sym.rela.<gate>.<obj>.<name>,<pos>`` symbol writes, or why
    it cannot be read. The position follows the last ``,`` or ``.`` (v3 of the
    proposal writes a ``.``), so a name with dots (``foo.isra.0``) reads whole."""
    found = _RELOC_SYMBOL.fullmatch(symbol, len(RELOC_SYMBOL_PREFIX))
    if not symbol.startswith(RELOC_SYMBOL_PREFIX) or found is None:
        return (f"{symbol} is not a KLP_RELOC_SYMBOL name: "
                f"{RELOC_SYMBOL_PREFIX}<object>.<object>.<symbol>.<decimal position> (or "
                "<symbol>,<decimal position>)")
    gate, obj, name, pos = found.groups()
    return Annotation(name, obj, int(pos), "", 0, 0, gate=gate)


def _arrays(elf: ElfFile, sec: Section) -> list[tuple[int, int, str]]:
    """(start, end, name) of the data symbols in an annotation section: its arrays."""
    table = elf.symtab
    return [(table.value(i), table.value(i) + table.size(i), table.name(i))
            for i in range(len(table)) if table.size(i) and table.type(i) == STT.OBJECT
            and table.section_of(i) == sec.index]
