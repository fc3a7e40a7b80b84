"""Compile units of a relocatable object's DWARF: which source file each piece of code is from.

Only what source attribution needs: the address ranges of each unit
(``.debug_aranges``) and the unit's ``DW_AT_name``. In a relocatable object the
addresses and section offsets inside DWARF are carried by relocations against
section symbols (the bytes in the file are zero), so every such field is read
through its relocation. DWARF's own encodings (LEB128 numbers, attribute
forms chosen by an abbreviation table, 32- or 64-bit offsets) are read field by
field rather than declared as layouts. Anything this reader does not understand (a unit type,
a form, zstd compression), and any reading that would cost more time or memory
than the sections' size warrants, makes it return what it has read so far:
callers treat a missing unit as "unknown", never as an error.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import NamedTuple

from klp.elfcodec.constants import SHF, SHT
from klp.elfcodec.elffile import ElfFile, Section

DW_AT_NAME = 0x03
DW_AT_STR_OFFSETS_BASE = 0x72
ELFCOMPRESS_ZLIB = 1

# DW_FORM_* codes by how their value is stored.
_FIXED = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x1E: 16, 0x0C: 1, 0x11: 1, 0x12: 2, 0x13: 4,
          0x14: 8, 0x20: 8, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4, 0x29: 1, 0x2A: 2, 0x2B: 3,
          0x2C: 4, 0x1C: 4, 0x24: 8}  # data*, flag, ref*, ref_sig8, strx1-4, addrx1-4, ref_sup*
#: udata, sdata, ref_udata, strx, addrx, loclistx, rnglistx, GNU_addr_index, GNU_str_index
_LEB128 = {0x0F, 0x0D, 0x15, 0x1A, 0x1B, 0x22, 0x23, 0x1F01, 0x1F02}
#: strp, line_strp, sec_offset, ref_addr, strp_sup, GNU_ref_alt, GNU_strp_alt
_OFFSET = {0x0E, 0x1F, 0x17, 0x10, 0x1D, 0x1F20, 0x1F21}
_BLOCK = {0x0A: 1, 0x03: 2, 0x04: 4}  # block1/2/4: length prefix size
_STRX = {0x1A: 0, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4}
FORM_ADDR, FORM_STRING, FORM_STRP, FORM_LINE_STRP = 0x01, 0x08, 0x0E, 0x1F
FORM_BLOCK, FORM_EXPRLOC, FORM_FLAG_PRESENT, FORM_IMPLICIT_CONST, FORM_INDIRECT = \
    0x09, 0x18, 0x19, 0x21, 0x16


class UnitRange(NamedTuple):
    shndx: int
    start: int
    end: int
    name: str  #: DW_AT_name of the unit, the source path as it was compiled


#: Deflate cannot expand data more than 1032 times (zlib's technical details), so
#: a compressed section claiming more than that is lying.
DEFLATE_MAX_RATIO = 1032
#: A LEB128 number longer than this does not fit the 64 bits of any value read here.
MAX_LEB128_BYTES = 10
#: Bytes the reader may examine per byte of the DWARF sections it reads (plus a
#: little): reading a real file examines each byte once at most (every unit has its
#: own abbreviations and strings); crafted offsets that send every unit through the
#: same long abbreviation table or string would make the work quadratic.
WORK_PER_BYTE = 4


class _Unreadable(Exception):
    """DWARF this reader does not follow; stop and keep what was read."""


@dataclass
class _Budget:
    """How many more bytes the readers of one file may examine."""

    left: int

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise _Unreadable


@dataclass
class _Reader:
    """One DWARF section's bytes with the relocations that fill them in."""

    data: bytes
    little: bool
    relocations: dict[int, tuple[int, int]]  #: offset -> (section index, value)
    budget: _Budget

    def uint(self, at: int, size: int) -> int:
        if at < 0 or at + size > len(self.data):
            raise _Unreadable
        self.budget.spend(size)
        return int.from_bytes(self.data[at:at + size], "little" if self.little else "big")

    def relocated(self, at: int, size: int) -> tuple[int | None, int]:
        """(section the value points into, value); section None when not relocated."""
        hit = self.relocations.get(at)
        if hit is not None:
            return hit
        return None, self.uint(at, size)

    def uleb(self, at: int) -> tuple[int, int]:
        value = 0
        for shift in range(0, 7 * MAX_LEB128_BYTES, 7):
            byte = self.uint(at, 1)
            at += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, at
        raise _Unreadable

    def cstring_end(self, at: int) -> int:
        """Where the NUL-terminated string at ``at`` ends (its NUL)."""
        end = self.data.find(b"\0", at) if at >= 0 else -1
        if end < 0:
            raise _Unreadable
        self.budget.spend(end + 1 - at)
        return end

    def cstring(self, at: int) -> str:
        return self.data[at:self.cstring_end(at)].decode("utf-8", "replace")


def unit_ranges(elf: ElfFile) -> list[UnitRange]:
    """Every address range of every compile unit, as (section, start, end, unit name)."""
    sections = _Sections(elf)
    aranges, info = sections.get(".debug_aranges"), sections.get(".debug_info")
    if aranges is None or info is None:
        return []
    found: list[UnitRange] = []
    names: dict[int, str | None] = {}
    try:
        for unit_offset, ranges in _aranges(aranges):
            if unit_offset not in names:
                names[unit_offset] = _unit_name(sections, info, unit_offset)
            name = names[unit_offset]
            if name is not None:
                found += [UnitRange(shndx, start, start + length, name)
                          for shndx, start, length in ranges]
    except _Unreadable:
        pass
    return found


class _Sections:
    """The DWARF sections, each read (and its relocations indexed) once."""

    def __init__(self, elf: ElfFile) -> None:
        self.elf = elf
        self._read: dict[str, _Reader | None] = {}
        self.budget = _Budget(4096)

    def get(self, name: str) -> _Reader | None:
        if name not in self._read:
            self._read[name] = _reader(self.elf, name, self.budget)
        return self._read[name]


def _reader(elf: ElfFile, name: str, budget: _Budget) -> _Reader | None:
    sec = elf.find_section(name)
    if sec is None or sec.sh_type == SHT.NOBITS:
        return None
    data = _contents(elf, sec)
    if data is None:
        return None
    budget.left += WORK_PER_BYTE * len(data)
    table = elf.symtab
    relocations: dict[int, tuple[int, int]] = {}
    rela = elf.rela_of(sec)
    if rela is not None and rela.sh_link == elf.symtab_section.index:
        for off, info, addend in elf.rela(rela).rows:
            sym = info >> 32
            shndx = table.section_of(sym)
            if shndx is not None:
                relocations[off] = (shndx, table.rows[sym][4] + addend)
    return _Reader(data, elf.arch.little, relocations, budget)


def _contents(elf: ElfFile, sec: Section) -> bytes | None:
    """Section bytes, inflated when SHF_COMPRESSED with zlib (None for other schemes)."""
    data = sec.data
    if not sec.sh_flags & SHF.COMPRESSED:
        return data
    header = elf.tables.Chdr
    if len(data) < header.size:
        return None
    kind, _, size, _ = header.unpack_one(data)
    payload = data[header.size:]
    if kind != ELFCOMPRESS_ZLIB or not 0 < size <= DEFLATE_MAX_RATIO * len(payload):
        return None
    stream = zlib.decompressobj()
    try:
        inflated = stream.decompress(payload, size)  # never more than ch_size promises
    except zlib.error:
        return None
    return inflated if len(inflated) == size and stream.eof else None


def _aranges(r: _Reader) -> list[tuple[int, list[tuple[int, int, int]]]]:
    """(.debug_info offset of the unit, [(section, start, length)]) per aranges set."""
    sets = []
    pos = 0
    while pos + 4 <= len(r.data):
        length, offset_size, header = r.uint(pos, 4), 4, pos + 4
        if length == 0xFFFFFFFF:
            length, offset_size, header = r.uint(pos + 4, 8), 8, pos + 12
        end = header + length
        _, unit = r.relocated(header + 2, offset_size)
        address_size = r.uint(header + 2 + offset_size, 1)
        segment_size = r.uint(header + 3 + offset_size, 1)
        entry = segment_size + 2 * address_size
        if address_size not in (4, 8) or end > len(r.data):
            raise _Unreadable
        at = pos + -(-(header + 4 + offset_size - pos) // entry) * entry
        ranges = []
        while at + entry <= end:
            shndx, start = r.relocated(at + segment_size, address_size)
            size = r.uint(at + segment_size + address_size, address_size)
            if shndx is None and start == 0 and size == 0:
                break
            if shndx is not None and size:
                ranges.append((shndx, start, size))
            at += entry
        sets.append((unit, ranges))
        pos = end
    return sets


def _unit_name(sections: _Sections, info: _Reader, at: int) -> str | None:
    """DW_AT_name of the unit at ``at`` in .debug_info, if it is a compile unit we read."""
    length, offset_size, pos = info.uint(at, 4), 4, at + 4
    if length == 0xFFFFFFFF:
        length, offset_size, pos = info.uint(at + 4, 8), 8, at + 12
    version = info.uint(pos, 2)
    if version >= 5:
        if info.uint(pos + 2, 1) != 1:  # DW_UT_compile only
            return None
        address_size = info.uint(pos + 3, 1)
        _, abbrev_offset = info.relocated(pos + 4, offset_size)
        pos += 4 + offset_size
    elif version >= 2:
        _, abbrev_offset = info.relocated(pos + 2, offset_size)
        address_size = info.uint(pos + 2 + offset_size, 1)
        pos += 3 + offset_size
    else:
        return None
    abbrevs = sections.get(".debug_abbrev")
    if abbrevs is None:
        return None
    code, pos = info.uleb(pos)
    attributes = _abbreviation(abbrevs, abbrev_offset, code)
    name: tuple[int, int] | None = None  # (form, value)
    str_offsets_base = 8 if offset_size == 4 else 16
    for attr, form in attributes:
        while form == FORM_INDIRECT:
            form, pos = info.uleb(pos)
        start = pos
        pos = _skip(info, pos, form, address_size, offset_size)
        if attr == DW_AT_NAME:
            if form == FORM_STRING:
                return info.cstring(start)
            if form in (FORM_STRP, FORM_LINE_STRP):
                name = (form, info.relocated(start, offset_size)[1])
            elif form in _STRX:
                size = _STRX[form]
                name = (form, info.uleb(start)[0] if size == 0 else info.uint(start, size))
        elif attr == DW_AT_STR_OFFSETS_BASE:
            str_offsets_base = info.relocated(start, offset_size)[1]
    if name is None:
        return None
    form, value = name
    if form in _STRX:
        offsets = sections.get(".debug_str_offsets")
        if offsets is None:
            return None
        value = offsets.relocated(str_offsets_base + value * offset_size, offset_size)[1]
    strings = sections.get(".debug_line_str" if form == FORM_LINE_STRP else ".debug_str")
    return strings.cstring(value) if strings is not None else None


def _abbreviation(r: _Reader, at: int, code: int) -> list[tuple[int, int]]:
    """The (attribute, form) list of abbreviation ``code``."""
    while True:
        current, at = r.uleb(at)
        if current == 0:
            raise _Unreadable
        _, at = r.uleb(at)  # tag
        at += 1  # has children
        attributes = []
        while True:
            attr, at = r.uleb(at)
            form, at = r.uleb(at)
            if form == FORM_IMPLICIT_CONST:
                _, at = r.uleb(at)  # the constant lives here, not in .debug_info
            if attr == 0 and form == 0:
                break
            attributes.append((attr, form))
        if current == code:
            return attributes


def _skip(r: _Reader, at: int, form: int, address_size: int, offset_size: int) -> int:
    """The offset after a value of ``form``."""
    if form in _FIXED:
        return at + _FIXED[form]
    if form in _LEB128:
        return r.uleb(at)[1]
    if form in _OFFSET:
        return at + offset_size
    if form in _BLOCK:
        return at + _BLOCK[form] + r.uint(at, _BLOCK[form])
    if form in (FORM_BLOCK, FORM_EXPRLOC):
        size, at = r.uleb(at)
        return at + size
    if form == FORM_ADDR:
        return at + address_size
    if form == FORM_STRING:
        return r.cstring_end(at) + 1
    if form in (FORM_FLAG_PRESENT, FORM_IMPLICIT_CONST):
        return at
    raise _Unreadable
