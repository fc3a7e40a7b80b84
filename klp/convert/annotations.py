"""KLP_MODULE_RELOC / KLP_SYMPOS annotations: ``.klp.module_relocs.<obj>`` sections.

Each entry is 12 packed bytes {u64 symbol pointer; u32 position} in the file's
byte order, and the compiler emits one absolute relocation for its pointer. An
entry is paired with its relocation by r_offset (not by table order).
"""

from __future__ import annotations

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


def _arrays(elf: ElfFile, sec: Section) -> list[tuple[int, int, str]]:
    """(start, end, name) of the data symbols in an annotation section: its arrays."""
    table = elf.symtab
    return [(table.value(i), table.value(i) + table.size(i), table.name(i))
            for i in range(len(table)) if table.size(i) and table.type(i) == STT.OBJECT
            and table.section_of(i) == sec.index]
