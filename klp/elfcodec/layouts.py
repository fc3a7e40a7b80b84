"""ELF64 record layouts, declared once with construct.

Every record is a *flat* Struct of fixed-size fields, so that :mod:`klp.elfcodec.fast`
can derive a ``struct.Struct`` for bulk tables from the same declaration. One
factory builds the set for each byte order; nothing else in klp spells a layout.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from construct import (
    Bytes,
    Int8ub,
    Int16ub,
    Int16ul,
    Int32ub,
    Int32ul,
    Int64sb,
    Int64sl,
    Int64ub,
    Int64ul,
    Struct,
)


@dataclass(frozen=True)
class Layouts:
    """The construct declarations for one byte order."""

    little: bool
    Ehdr: Struct
    Shdr: Struct
    Phdr: Struct
    Sym: Struct
    Rela: Struct
    Word: Struct
    #: One ``KLP_SYMPOS`` entry of a ``.klp.module_relocs.<obj>`` section:
    #: a pointer slot (relocated to the symbol) and the position, packed.
    KlpModuleReloc: Struct
    #: The header of an SHF_COMPRESSED section (compressed debug info).
    Chdr: Struct


@functools.cache
def layouts(little: bool) -> Layouts:
    """Build the layouts for little- (True) or big-endian (False) files."""
    half = Int16ul if little else Int16ub
    word = Int32ul if little else Int32ub
    xword = Int64ul if little else Int64ub
    sxword = Int64sl if little else Int64sb
    addr = off = xword
    byte = Int8ub
    return Layouts(
        little=little,
        Ehdr=Struct(
            "ei_mag" / Bytes(4),
            "ei_class" / byte,
            "ei_data" / byte,
            "ei_version" / byte,
            "ei_osabi" / byte,
            "ei_abiversion" / byte,
            "ei_pad" / Bytes(7),
            "e_type" / half,
            "e_machine" / half,
            "e_version" / word,
            "e_entry" / addr,
            "e_phoff" / off,
            "e_shoff" / off,
            "e_flags" / word,
            "e_ehsize" / half,
            "e_phentsize" / half,
            "e_phnum" / half,
            "e_shentsize" / half,
            "e_shnum" / half,
            "e_shstrndx" / half,
        ),
        Shdr=Struct(
            "sh_name" / word,
            "sh_type" / word,
            "sh_flags" / xword,
            "sh_addr" / addr,
            "sh_offset" / off,
            "sh_size" / xword,
            "sh_link" / word,
            "sh_info" / word,
            "sh_addralign" / xword,
            "sh_entsize" / xword,
        ),
        Phdr=Struct(
            "p_type" / word,
            "p_flags" / word,
            "p_offset" / off,
            "p_vaddr" / addr,
            "p_paddr" / addr,
            "p_filesz" / xword,
            "p_memsz" / xword,
            "p_align" / xword,
        ),
        Sym=Struct(
            "st_name" / word,
            "st_info" / byte,
            "st_other" / byte,
            "st_shndx" / half,
            "st_value" / addr,
            "st_size" / xword,
        ),
        Rela=Struct(
            "r_offset" / addr,
            "r_info" / xword,
            "r_addend" / sxword,
        ),
        # .symtab_shndx entries and SHT_GROUP words.
        Word=Struct("word" / word),
        KlpModuleReloc=Struct(
            "sym" / addr,
            "sympos" / word,
        ),
        Chdr=Struct(
            "ch_type" / word,
            "ch_reserved" / word,
            "ch_size" / xword,
            "ch_addralign" / xword,
        ),
    )
