"""ELF constants as enums, with the Linux livepatch extensions.

Values follow the System V gABI and glibc's <elf.h>; the livepatch ones come from
the kernel's include/uapi/linux/elf.h. Tables keep raw ints; these enums name them.
"""

from __future__ import annotations

import enum

ELFMAG = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2
EV_CURRENT = 1


class ET(enum.IntEnum):
    NONE = 0
    REL = 1
    EXEC = 2
    DYN = 3
    CORE = 4


class EM(enum.IntEnum):
    """The machines klp supports (and the ones it names when refusing others)."""

    NONE = 0
    I386 = 3
    PPC = 20
    PPC64 = 21
    S390 = 22
    ARM = 40
    X86_64 = 62
    AARCH64 = 183
    RISCV = 243
    LOONGARCH = 258


class SHT(enum.IntEnum):
    NULL = 0
    PROGBITS = 1
    SYMTAB = 2
    STRTAB = 3
    RELA = 4
    HASH = 5
    DYNAMIC = 6
    NOTE = 7
    NOBITS = 8
    REL = 9
    SHLIB = 10
    DYNSYM = 11
    INIT_ARRAY = 14
    FINI_ARRAY = 15
    PREINIT_ARRAY = 16
    GROUP = 17
    SYMTAB_SHNDX = 18
    RELR = 19
    GNU_ATTRIBUTES = 0x6FFFFFF5
    GNU_HASH = 0x6FFFFFF6
    GNU_LIBLIST = 0x6FFFFFF7
    GNU_VERDEF = 0x6FFFFFFD
    GNU_VERNEED = 0x6FFFFFFE
    GNU_VERSYM = 0x6FFFFFFF


class SHF(enum.IntFlag):
    WRITE = 0x1
    ALLOC = 0x2
    EXECINSTR = 0x4
    MERGE = 0x10
    STRINGS = 0x20
    INFO_LINK = 0x40
    LINK_ORDER = 0x80
    OS_NONCONFORMING = 0x100
    GROUP = 0x200
    TLS = 0x400
    COMPRESSED = 0x800
    #: Linux: a relocation section that livepatch applies (uapi/linux/elf.h).
    RELA_LIVEPATCH = 0x00100000
    #: Linux module loader's SHF_RO_AFTER_INIT, which GNU calls SHF_GNU_RETAIN.
    RO_AFTER_INIT = 0x00200000
    EXCLUDE = 0x80000000


class SHN(enum.IntEnum):
    UNDEF = 0
    LORESERVE = 0xFF00
    #: Linux: a symbol the livepatch core resolves through kallsyms.
    LIVEPATCH = 0xFF20
    ABS = 0xFFF1
    COMMON = 0xFFF2
    XINDEX = 0xFFFF


class STB(enum.IntEnum):
    LOCAL = 0
    GLOBAL = 1
    WEAK = 2
    GNU_UNIQUE = 10


class STT(enum.IntEnum):
    NOTYPE = 0
    OBJECT = 1
    FUNC = 2
    SECTION = 3
    FILE = 4
    COMMON = 5
    TLS = 6
    GNU_IFUNC = 10


class STV(enum.IntEnum):
    DEFAULT = 0
    INTERNAL = 1
    HIDDEN = 2
    PROTECTED = 3


GRP_COMDAT = 0x1


def st_info(bind: int, type_: int) -> int:
    """st_info from a binding and a type (gABI ELF64_ST_INFO)."""
    return (bind << 4) | (type_ & 0xF)


def st_bind(info: int) -> int:
    return info >> 4


def st_type(info: int) -> int:
    return info & 0xF


def r_info(sym: int, type_: int) -> int:
    """r_info from a symbol index and a relocation type (gABI ELF64_R_INFO)."""
    return (sym << 32) | type_


def r_sym(info: int) -> int:
    return info >> 32


def r_type(info: int) -> int:
    return info & 0xFFFFFFFF
