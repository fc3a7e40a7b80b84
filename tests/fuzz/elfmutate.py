"""Structure-aware mutations of ELF64 files, shared by the ELF fuzz targets.

The input's headers are located with plain ``struct`` (not klp's reader, which
must not decide what gets fuzzed), tolerating anything: a mutation that finds no
structure to work on returns the input unchanged.
"""

from __future__ import annotations

import functools
import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tests.fuzz.engine import INTERESTING, interesting

EHDR, SHDR, SYM, RELA = 64, 64, 24, 24
SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL, SHT_GROUP, SHT_SYMTAB_SHNDX = (
    2, 3, 4, 8, 9, 17, 18)
#: (offset, width) of the ELF header fields worth damaging.
EHDR_FIELDS = {"ei_class": (4, 1), "ei_data": (5, 1), "e_type": (16, 2), "e_machine": (18, 2),
               "e_phoff": (32, 8), "e_shoff": (40, 8), "e_ehsize": (52, 2),
               "e_phentsize": (54, 2), "e_phnum": (56, 2), "e_shentsize": (58, 2),
               "e_shnum": (60, 2), "e_shstrndx": (62, 2)}
SHDR_FIELDS = {"sh_name": (0, 4), "sh_type": (4, 4), "sh_flags": (8, 8), "sh_offset": (24, 8),
               "sh_size": (32, 8), "sh_link": (40, 4), "sh_info": (44, 4),
               "sh_addralign": (48, 8), "sh_entsize": (56, 8)}
SYM_FIELDS = {"st_name": (0, 4), "st_info": (4, 1), "st_other": (5, 1), "st_shndx": (6, 2),
              "st_value": (8, 8), "st_size": (16, 8)}
SECTION_TYPES = (0, 1, 2, 3, 4, 7, 8, 9, 11, 14, 17, 18, 0x6FFFFFF5, 0xFFFFFFFF)
#: SHF_ALLOC, EXECINSTR, INFO_LINK, GROUP, COMPRESSED, RELA_LIVEPATCH, RO_AFTER_INIT
SECTION_FLAGS = (0x2, 0x4, 0x40, 0x200, 0x800, 0x100000, 0x200000)
SPECIAL_SHNDX = (0, 0xFF00, 0xFF20, 0xFFF1, 0xFFF2, 0xFFFF)


@dataclass(frozen=True)
class Header:
    index: int
    at: int  #: where the header is in the file
    name: str
    type: int
    offset: int
    size: int
    link: int
    info: int

    def inside(self, length: int) -> bool:
        return self.type != SHT_NOBITS and self.size > 0 and self.offset + self.size <= length


@dataclass(frozen=True)
class Layout:
    little: bool
    length: int
    headers: tuple[Header, ...]

    @property
    def order(self) -> str:
        return "<" if self.little else ">"

    def of_type(self, *types: int) -> list[Header]:
        return [h for h in self.headers if h.type in types and h.inside(self.length)]

    def named(self, *prefixes: str) -> list[Header]:
        return [h for h in self.headers if h.name.startswith(prefixes) and h.inside(self.length)]


@functools.lru_cache(maxsize=512)
def layout(data: bytes) -> Layout | None:
    """The section headers of ``data``, or None when it has no readable table."""
    if len(data) < EHDR or data[:4] != b"\x7fELF" or data[5] not in (1, 2):
        return None
    little = data[5] == 1
    o = "<" if little else ">"
    shoff = struct.unpack_from(o + "Q", data, 40)[0]
    shnum, shstrndx = struct.unpack_from(o + "HH", data, 60)
    if shoff + SHDR > len(data):
        return None
    if shnum == 0:
        shnum = struct.unpack_from(o + "Q", data, shoff + 32)[0]
    shnum = min(shnum, (len(data) - shoff) // SHDR)
    raw = [struct.unpack_from(o + "IIQQQQIIQQ", data, shoff + i * SHDR) for i in range(shnum)]
    names = b""
    if shstrndx < shnum:
        names = data[raw[shstrndx][4] : raw[shstrndx][4] + raw[shstrndx][5]]
    headers = []
    for i, h in enumerate(raw):
        end = names.find(b"\0", h[0])
        name = names[h[0] : end].decode("latin-1") if 0 <= h[0] < len(names) and end >= 0 else ""
        headers.append(Header(i, shoff + i * SHDR, name, h[1], h[4], h[5], h[6], h[7]))
    return Layout(little, len(data), tuple(headers))


def _put(data: bytearray, lay: Layout, at: int, width: int, value: int) -> None:
    if at >= 0 and at + width <= len(data):
        data[at : at + width] = (value % (1 << (8 * width))).to_bytes(
            width, "little" if lay.little else "big")


def _get(data: bytes, lay: Layout, at: int, width: int) -> int:
    return int.from_bytes(data[at : at + width], "little" if lay.little else "big")


def _near(rng: random.Random, values: Sequence[int]) -> int:
    """One of ``values``, sometimes off by one."""
    return rng.choice(values) + rng.choice((0, 0, 0, -1, 1))


# -- the mutations ---------------------------------------------------------------------

Mutation = Callable[[random.Random, bytearray, Layout], None]


def ehdr_field(rng: random.Random, data: bytearray, lay: Layout) -> None:
    at, width = EHDR_FIELDS[rng.choice(sorted(EHDR_FIELDS))]
    n = len(lay.headers)
    value = _near(rng, (0, n, 0xFFFF, 64, lay.length, *(h.at for h in lay.headers[:1]))) \
        if rng.random() < 0.4 else interesting(rng, width, lay.length)
    _put(data, lay, at, width, value)


def _section_value(rng: random.Random, field: str, lay: Layout, width: int) -> int:
    n = len(lay.headers)
    hs = lay.headers
    if field in ("sh_link", "sh_info"):
        return _near(rng, (0, n, 0xFFFF, 0xFF00, *(h.index for h in hs)))
    if field == "sh_type":
        return rng.choice(SECTION_TYPES)
    if field in ("sh_offset", "sh_size"):
        return _near(rng, (0, 64, lay.length, *(h.offset for h in hs), *(h.size for h in hs),
                           *(h.offset + h.size for h in hs)))
    if field == "sh_addralign":
        return rng.choice((0, 1, 3, 6, 1 << 12, 1 << 16, 1 << 17, 1 << 30, 1 << 63,
                           (1 << 64) - 1))
    if field == "sh_entsize":
        return rng.choice((0, 1, 4, 7, 12, 23, 24, 25, 1 << 63))
    return interesting(rng, width, lay.length)


def shdr_field(rng: random.Random, data: bytearray, lay: Layout,
               among: Sequence[Header] | None = None) -> None:
    hs = list(among or lay.headers)
    if not hs:
        return
    h = rng.choice(hs)
    field = rng.choice(sorted(SHDR_FIELDS))
    off, width = SHDR_FIELDS[field]
    if field == "sh_flags":
        value = _get(bytes(data), lay, h.at + off, 8) ^ rng.choice(SECTION_FLAGS)
    elif field == "sh_name":
        value = _get(bytes(data), lay, rng.choice(lay.headers).at, 4) + rng.choice((0, 0, 1, 3))
    elif rng.random() < 0.8:
        value = _section_value(rng, field, lay, width)
    else:
        value = interesting(rng, width, lay.length)
    _put(data, lay, h.at + off, width, value)


def shdr_copy(rng: random.Random, data: bytearray, lay: Layout) -> None:
    """One section header copied over another: duplicate tables, overlapping sections."""
    if len(lay.headers) < 2:
        return
    src, dst = rng.sample(lay.headers, 2)
    data[dst.at : dst.at + SHDR] = data[src.at : src.at + SHDR]


def extended_numbering(rng: random.Random, data: bytearray, lay: Layout) -> None:
    """The section count (and maybe the name table index) moved into section 0."""
    if not lay.headers:
        return
    zero = lay.headers[0].at
    _put(data, lay, zero + 32, 8, _get(bytes(data), lay, 60, 2) or len(lay.headers))
    _put(data, lay, 60, 2, 0)
    if rng.random() < 0.5:
        _put(data, lay, zero + 40, 4, _get(bytes(data), lay, 62, 2))
        _put(data, lay, 62, 2, 0xFFFF)


def symbol_field(rng: random.Random, data: bytearray, lay: Layout) -> None:
    tables = lay.of_type(SHT_SYMTAB)
    if not tables:
        return
    h = rng.choice(tables)
    count = h.size // SYM
    if not count:
        return
    row = h.offset + rng.randrange(count) * SYM
    field = rng.choice(sorted(SYM_FIELDS))
    off, width = SYM_FIELDS[field]
    n = len(lay.headers)
    if field == "st_shndx":
        value = _near(rng, (*SPECIAL_SHNDX, n, *range(min(n, 64))))
    elif field == "st_info":
        value = (rng.choice((0, 1, 2, 10, 15)) << 4) | rng.choice((0, 1, 2, 3, 4, 5, 6, 10, 15))
    elif field == "st_name":
        strtab = lay.headers[h.link] if h.link < n else h
        value = _near(rng, (0, strtab.size, *INTERESTING[-6:]))
    else:
        value = interesting(rng, width, lay.length)
    _put(data, lay, row + off, width, value)


def rela_field(rng: random.Random, data: bytearray, lay: Layout,
               among: Sequence[Header] | None = None) -> None:
    relas = [h for h in (among or lay.of_type(SHT_RELA)) if h.size >= RELA]
    if not relas:
        return
    h = rng.choice(relas)
    row = h.offset + rng.randrange(h.size // RELA) * RELA
    kind = rng.randrange(4)
    symtab = lay.headers[h.link] if h.link < len(lay.headers) else h
    nsyms = symtab.size // SYM
    sym_at = row + (12 if lay.little else 8)
    type_at = row + (8 if lay.little else 12)
    if kind == 0:
        _put(data, lay, sym_at, 4, _near(rng, (0, nsyms, 0xFFFFFFFF, *range(min(nsyms, 32)))))
    elif kind == 1:
        _put(data, lay, type_at, 4, rng.choice((0, 1, 2, 22, 38, 257, 0xFFFFFFFF))
             if rng.random() < 0.5 else rng.randrange(300))
    elif kind == 2:
        target = lay.headers[h.info] if h.info < len(lay.headers) else h
        _put(data, lay, row, 8, _near(rng, (0, target.size, target.size - 8, 1 << 63)))
    else:
        _put(data, lay, row + 16, 8, interesting(rng, 8, lay.length))


def string_table(rng: random.Random, data: bytearray, lay: Layout) -> None:
    """NULs taken away, or characters a printer or a name parser may choke on."""
    tables = lay.of_type(SHT_STRTAB)
    if not tables:
        return
    h = rng.choice(tables)
    at = h.offset + rng.randrange(h.size)
    if rng.random() < 0.4:
        nul = bytes(data).find(b"\0", at, h.offset + h.size)
        if nul >= 0:
            data[nul] = ord("A")
        return
    for _ in range(rng.randint(1, 4)):
        if at < h.offset + h.size:
            data[at] = rng.choice(b"[]\t\n\r,.%\x1b\x7f\x80\xc3\xff")
            at += 1


def group_member(rng: random.Random, data: bytearray, lay: Layout) -> None:
    groups = lay.of_type(SHT_GROUP)
    if not groups:
        return
    h = rng.choice(groups)
    word = h.offset + rng.randrange(max(1, h.size // 4)) * 4
    n = len(lay.headers)
    _put(data, lay, word, 4, _near(rng, (0, 1, n, h.index, 0xFFFF, 0xFFFFFFFF)))


def section_bytes(rng: random.Random, data: bytearray, lay: Layout,
                  among: Sequence[Header] | None = None) -> None:
    """Bytes inside one section: values, LEB128 continuation runs, NULs."""
    hs = list(among or [h for h in lay.headers if h.inside(lay.length)])
    if not hs:
        return
    h = rng.choice(hs)
    at = h.offset + rng.randrange(h.size)
    kind = rng.randrange(3)
    if kind == 0:
        width = rng.choice((1, 2, 4, 8))
        _put(data, lay, at - at % width, width, interesting(rng, width, h.size))
    elif kind == 1:
        run = min(rng.randint(1, 24), h.offset + h.size - at)
        data[at : at + run] = bytes([rng.choice((0x80, 0xFF))]) * run
    else:
        data[at] = rng.getrandbits(8)


#: DW_FORM_* codes of DWARF 2-5 that fit in a byte.
DWARF_FORMS = tuple(range(0x01, 0x2D))
FORM_INDIRECT, FORM_FLAG_PRESENT, FORM_IMPLICIT_CONST = 0x16, 0x19, 0x21


def dwarf_form(rng: random.Random, data: bytearray, lay: Layout) -> None:
    """An attribute's form in .debug_abbrev becomes another, often DW_FORM_indirect:
    then each entry's value bytes name its form, whatever they held."""
    slots = [at for h in lay.named(".debug_abbrev") if h.inside(lay.length)
             for at in _form_slots(data, h.offset, h.offset + h.size)]
    if not slots:
        return
    at = rng.choice(slots)
    data[at] = FORM_INDIRECT if rng.random() < 0.5 else rng.choice(DWARF_FORMS)


def _form_slots(data: bytearray, at: int, end: int) -> list[int]:
    """Where the one-byte forms of the abbreviation entries in ``data[at:end]`` are."""
    slots = []
    while at < end:
        code, at = _uleb(data, at, end)
        if not code:  # the end of a table: another may follow
            continue
        at = _uleb(data, at, end)[1] + 1  # the tag, then the children flag
        while at < end:
            attribute, at = _uleb(data, at, end)
            slot = at
            form, at = _uleb(data, at, end)
            if not attribute | form:
                break
            if form < 0x80:
                slots.append(slot)
            if form == FORM_IMPLICIT_CONST:
                at = _uleb(data, at, end)[1]
    return slots


def line_table_counts(rng: random.Random, data: bytearray, lay: Layout) -> None:
    """The directory table of the first DWARF 5 line program gets entries of no bytes
    (no formats, or every form DW_FORM_flag_present), often 2**32 of them."""
    sections = lay.named(".debug_line")
    if not sections:
        return
    start, end = sections[0].offset, sections[0].offset + sections[0].size
    if end - start < 18 or _get(data, lay, start + 4, 2) != 5:
        return
    count_at = start + 17 + data[start + 17]  # past the standard opcodes' lengths
    if count_at >= end:
        return
    at = count_at + 1
    if rng.random() < 0.5:
        data[count_at] = 0
    else:
        for _ in range(data[count_at]):
            at = _uleb(data, at, end)[1]  # what the value is
            if at < end:
                data[at] = FORM_FLAG_PRESENT
            at = _uleb(data, at, end)[1]
    if rng.random() < 0.7 and at + 5 <= end:
        data[at : at + 5] = b"\xff\xff\xff\xff\x0f"


def _uleb(data: bytearray, at: int, end: int) -> tuple[int, int]:
    """The LEB128 number at ``at`` and where the next field starts."""
    value = shift = 0
    while at < end:
        value |= (data[at] & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not data[at - 1] & 0x80:
            break
    return value, at


def mutator(weighted: Sequence[tuple[int, Mutation]]) -> Callable[[random.Random, bytes], bytes]:
    """A target's ``mutate``: one of ``weighted`` (weight, mutation), picked by weight."""
    weights = [w for w, _ in weighted]
    mutations = [m for _, m in weighted]

    def mutate(rng: random.Random, data: bytes) -> bytes:
        lay = layout(data)
        if lay is None:
            return data
        out = bytearray(data)
        rng.choices(mutations, weights)[0](rng, out, lay)
        return bytes(out)

    return mutate
