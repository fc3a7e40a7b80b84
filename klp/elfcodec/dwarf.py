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

import bisect
import mmap
import operator
import os
import posixpath
import zlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import NamedTuple, TypeVar

from klp.elfcodec.constants import ET, SHF, SHT
from klp.elfcodec.elffile import ElfFile, Section

DW_TAG_FORMAL_PARAMETER = 0x05
DW_TAG_MEMBER = 0x0D
DW_TAG_COMPILE_UNIT = 0x11
DW_TAG_STRUCTURE_TYPE = 0x13
DW_TAG_UNSPECIFIED_PARAMETERS = 0x18
DW_TAG_INLINED_SUBROUTINE = 0x1D
DW_TAG_SUBPROGRAM = 0x2E
DW_TAG_VARIABLE = 0x34
_END = 0  #: DW_TAG_null: here, the end of an entry's children
#: array, class, enumeration, structure, subroutine and union types: no code inside
_TYPE_TAGS = frozenset({0x01, 0x02, 0x04, DW_TAG_STRUCTURE_TYPE, 0x15, 0x17})
#: typedef, const, volatile, restrict, atomic: the size is the named type's
_QUALIFIER_TAGS = frozenset({0x16, 0x26, 0x35, 0x37, 0x47})

DW_AT_SIBLING = 0x01
DW_AT_NAME = 0x03
DW_AT_BYTE_SIZE = 0x0B
DW_AT_LOW_PC = 0x11
DW_AT_ABSTRACT_ORIGIN = 0x31
DW_AT_DATA_MEMBER_LOCATION = 0x38
DW_AT_DECLARATION = 0x3C
DW_AT_SPECIFICATION = 0x47
DW_AT_TYPE = 0x49
DW_AT_STR_OFFSETS_BASE = 0x72
DW_AT_LINKAGE_NAME = 0x6E
DW_AT_MIPS_LINKAGE_NAME = 0x2007  #: the name GCC gave it before DWARF 4

# What each reader asks the walk of a unit's entries for: tags and attributes.
_STRUCT_TAGS = frozenset({DW_TAG_STRUCTURE_TYPE, DW_TAG_MEMBER})
_STRUCT_ATTRIBUTES = frozenset({DW_AT_NAME, DW_AT_BYTE_SIZE, DW_AT_DATA_MEMBER_LOCATION,
                                DW_AT_DECLARATION})
_INLINE_TAGS = frozenset({DW_TAG_SUBPROGRAM, DW_TAG_INLINED_SUBROUTINE})
_INLINE_ATTRIBUTES = frozenset({DW_AT_NAME, DW_AT_ABSTRACT_ORIGIN, DW_AT_SPECIFICATION,
                                DW_AT_LOW_PC})
_SIGNATURE_TAGS = frozenset({DW_TAG_SUBPROGRAM, DW_TAG_FORMAL_PARAMETER,
                             DW_TAG_UNSPECIFIED_PARAMETERS})
_SIGNATURE_ATTRIBUTES = frozenset({DW_AT_NAME, DW_AT_TYPE, DW_AT_DECLARATION})
#: The types a parameter's or variable's size is read from, when its type reference is
#: followed: base, pointer, reference, enumeration, structure and union types, and the
#: qualifiers (whose size is the type they name).
_SIZED_TAGS = frozenset({0x24, 0x0F, 0x10, 0x04, DW_TAG_STRUCTURE_TYPE, 0x17,
                         *_QUALIFIER_TAGS})
_SIZE_ATTRIBUTES = frozenset({DW_AT_BYTE_SIZE, DW_AT_TYPE})
#: The same, with the variables an object declares and the names it links them by.
_DECLARATION_TAGS = _SIGNATURE_TAGS | {DW_TAG_VARIABLE}
_DECLARATION_ATTRIBUTES = _SIGNATURE_ATTRIBUTES | {DW_AT_LINKAGE_NAME, DW_AT_MIPS_LINKAGE_NAME}
#: An inlined copy names its function's abstract entry, an out-of-line copy of an
#: inline function its abstract entry too, which may complete a declaration.
_MAX_ORIGIN_CHAIN = 4
_MAX_TYPE_CHAIN = 16  #: typedef -> const -> typedef -> ... -> a type with a size

#: DW_FORM_ref1/2/4/8: a reference inside the unit (sibling links use these)
_UNIT_REFERENCE = {0x11: 1, 0x12: 2, 0x13: 4, 0x14: 8}
FORM_REF_ADDR, FORM_REF_UDATA = 0x10, 0x15
DW_UT_COMPILE = 1
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
_DATA = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8}  # data1/2/4/8
FORM_ADDR, FORM_STRING, FORM_STRP, FORM_LINE_STRP = 0x01, 0x08, 0x0E, 0x1F
FORM_UDATA = 0x0F
FORM_BLOCK, FORM_EXPRLOC, FORM_FLAG_PRESENT, FORM_IMPLICIT_CONST, FORM_INDIRECT = \
    0x09, 0x18, 0x19, 0x21, 0x16


class UnitRange(NamedTuple):
    shndx: int
    start: int
    end: int
    name: str  #: DW_AT_name of the unit, the source path as it was compiled


class LineRow(NamedTuple):
    """The start of a run of code that one source line produced (line 0: the end of
    a sequence, no line)."""

    start: int  #: offset in the section
    file: str  #: the file as the line table names it (directory joined)
    line: int


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


class _Budget:
    """How many more bytes the readers of one file may examine."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise _Unreadable


class _Window:
    """A section of a file on disk, read a few bytes at a time: a linked kernel's
    .debug_info is hundreds of MB, of which a few bytes per unit are read. Reading
    them through the file's map would map (and count in the process's memory) the
    pages the kernel faults in around each one, about 50 KB a unit."""

    def __init__(self, path: str, start: int, size: int) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - lives with the reader
        self._start, self._size = start, size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, part: slice) -> bytes:
        start, stop, _ = part.indices(self._size)
        return os.pread(self._file.fileno(), max(stop - start, 0), self._start + start)

    def find(self, sub: bytes, at: int) -> int:
        """Where ``sub`` (a NUL, in practice) occurs first at or after ``at``, or -1."""
        chunk = 256
        while at < self._size:
            found = self[at : at + chunk + len(sub) - 1].find(sub)
            if found >= 0:
                return at + found
            at += chunk
            chunk = min(chunk * 4, 1 << 20)
        return -1

    def load(self, start: int, end: int) -> _Loaded:
        """The bytes from ``start`` to ``end`` held in memory (a unit read whole)."""
        return _Loaded(self[start:end], start, self._size)

    def span(self, start: int, end: int) -> tuple[bytes, int]:
        return self[start:end], start


class _Loaded:
    """Part of a section in memory, addressed by section offsets."""

    def __init__(self, data: bytes, start: int, size: int) -> None:
        self._data, self._start, self._size = data, start, size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, part: slice) -> bytes:
        start, stop, _ = part.indices(self._size)
        if start < self._start or stop > self._start + len(self._data):
            raise _Unreadable  # outside the part read: never a short read taken as a value
        return self._data[start - self._start : stop - self._start]

    def find(self, sub: bytes, at: int) -> int:
        found = self._data.find(sub, max(at - self._start, 0))
        return found + self._start if found >= 0 else -1

    def span(self, start: int, end: int) -> tuple[bytes, int]:
        if start < self._start or end > self._start + len(self._data):
            raise _Unreadable
        return self._data, self._start


class _Relocations:
    """The relocations of an ET_REL object's DWARF section, looked up by offset.

    A section's relocations are sorted by offset as the assembler and ``ld -r``
    write them, so a lookup bisects the offsets column; no per-relocation object
    is made unless asked for (a module's .debug_info has tens of thousands)."""

    def __init__(self, elf: ElfFile | None, rela: Section | None) -> None:
        table = elf.rela(rela) if elf is not None and rela is not None else None
        self._symtab = elf.symtab if elf is not None and table is not None else None
        # the columns, taken once: rows would turn the whole table into tuples
        self._offsets: Sequence[int] = table.offsets if table is not None else ()
        self._symbols: Sequence[int] = table.symbols() if table is not None else ()
        self._addends: Sequence[int] = table.addends if table is not None else ()
        self._by_offset: dict[int, int] | None = None
        if self._offsets and any(map(operator.gt, self._offsets, self._offsets[1:])):
            self._by_offset = {off: i for i, off in enumerate(self._offsets)}

    def get(self, at: int) -> tuple[int, int] | None:
        """(section index, value) of the relocation at ``at``: its symbol's section, and
        the symbol's value plus the addend; None without one (or for another kind)."""
        if self._symtab is None:
            return None
        if self._by_offset is not None:
            index = self._by_offset.get(at)
            if index is None:
                return None
        else:
            index = bisect.bisect_left(self._offsets, at)
            if index >= len(self._offsets) or self._offsets[index] != at:
                return None
        sym = self._symbols[index]
        shndx = self._symtab.section_of(sym)
        return None if shndx is None else (shndx, self._symtab.value(sym) + self._addends[index])


class _Reader:
    """One DWARF section's bytes with the relocations that fill them in."""

    __slots__ = ("budget", "data", "little", "relocations", "tables")

    def __init__(self, data: bytes | _Window | _Loaded, little: bool, relocations: _Relocations,
                 budget: _Budget) -> None:
        self.data = data
        self.little = little
        self.relocations = relocations
        self.budget = budget
        #: Abbreviation tables by offset (only .debug_abbrev uses it).
        self.tables: dict[int, _AbbrevTable] = {}

    def loaded(self, start: int, end: int) -> _Reader:
        """This reader with the bytes from ``start`` to ``end`` in memory: walking a
        unit's entries through the file would cost a read per value."""
        if not isinstance(self.data, _Window):
            return self
        return _Reader(self.data.load(start, end), self.little, self.relocations, self.budget)

    def span(self, start: int, end: int) -> tuple[bytes, int]:
        """Bytes in memory that hold ``start`` to ``end``, and the section offset of
        their first byte."""
        if isinstance(self.data, bytes):
            return self.data, 0
        return self.data.span(start, end)

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
        data = self.data
        if isinstance(data, bytes) and 0 <= at < len(data) and data[at] < 0x80:
            self.budget.spend(1)  # most numbers: one byte
            return data[at], at + 1
        value = self.uint(at, 1)
        if value < 0x80:
            return value, at + 1
        value &= 0x7F
        for shift in range(7, 7 * MAX_LEB128_BYTES, 7):
            at += 1
            byte = self.uint(at, 1)
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, at + 1
        raise _Unreadable

    def cstring_end(self, at: int) -> int:
        """Where the NUL-terminated string at ``at`` ends (its NUL)."""
        end = self.data.find(b"\0", at) if at >= 0 else -1
        if end < 0:
            raise _Unreadable
        self.budget.spend(end + 1 - at)
        return end

    def sleb(self, at: int) -> tuple[int, int]:
        value, end = self.uleb(at)
        bits = 7 * (end - at)
        return (value - (1 << bits) if value >> (bits - 1) & 1 else value), end

    def initial_length(self, at: int) -> tuple[int, int, int]:
        """A unit's initial length at ``at``: (length, offset size, where the unit's
        contents start); 0xffffffff escapes to the 64-bit DWARF format."""
        length = self.uint(at, 4)
        if length == 0xFFFFFFFF:
            return self.uint(at + 4, 8), 8, at + 12
        return length, 4, at + 4

    def cstring(self, at: int) -> str:
        return self.cstring_at(at)[0]

    def cstring_at(self, at: int) -> tuple[str, int]:
        """The string at ``at`` and the offset just past its NUL."""
        end = self.cstring_end(at)
        return self.data[at:end].decode("utf-8", "replace"), end + 1


def unit_ranges(elf: ElfFile) -> list[UnitRange]:
    """Every address range of every compile unit of a relocatable object, as (section,
    start, end, unit name)."""
    return [UnitRange(shndx, start, start + length, name)
            for shndx, start, length, name in _unit_pieces(elf) if shndx is not None]


def unit_addresses(elf: ElfFile) -> list[tuple[int, int, str]]:
    """Every address range of every compile unit of a linked image (vmlinux), as
    (start, end, unit name) sorted by start: which source file code comes from."""
    return sorted((start, start + length, name)
                  for shndx, start, length, name in _unit_pieces(elf) if shndx is None)


def _unit_pieces(elf: ElfFile) -> list[tuple[int | None, int, int, str]]:
    """(section or None for an address, start, length, unit name) of every aranges
    entry whose unit's name can be read; what follows damage is left out."""
    sections = _Sections(elf)
    aranges, info = sections.get(".debug_aranges"), sections.get(".debug_info")
    if aranges is None or info is None:
        return []
    found = []
    names: dict[int, str | None] = {}
    try:
        for unit_offset, ranges in _aranges(aranges):
            if unit_offset not in names:
                names[unit_offset] = _unit_name(sections, info, unit_offset)
            name = names[unit_offset]
            if name is not None:
                found += [(shndx, start, length, name) for shndx, start, length in ranges]
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
    linked = elf.e_type != ET.REL  # a linked image: its DWARF holds final values
    data: bytes | _Window | None
    if linked and name == ".debug_info" and not sec.sh_flags & SHF.COMPRESSED \
            and sec.orig_offset is not None and not sec.decoded \
            and isinstance(elf.contents, mmap.mmap):  # opened from a file
        data = _Window(elf.path, sec.orig_offset, sec.orig_size)
    else:
        data = _contents(elf, sec)
    if data is None:
        return None
    budget.left += WORK_PER_BYTE * len(data)
    rela = None if linked else elf.rela_of(sec)
    if rela is not None and rela.sh_link != elf.symtab_section.index:
        rela = None
    return _Reader(data, elf.arch.little, _Relocations(elf, rela), budget)


def _contents(elf: ElfFile, sec: Section) -> bytes | None:
    """Section bytes, inflated when SHF_COMPRESSED with zlib (None for other schemes)."""
    data = sec.data
    if not sec.sh_flags & SHF.COMPRESSED:
        return data
    header = elf.codecs.Chdr
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


def _aranges(r: _Reader) -> list[tuple[int, list[tuple[int | None, int, int]]]]:
    """(.debug_info offset of the unit, [(section, start, length)]) per aranges set; the
    section is None for an address (a linked image, or an unrelocated entry)."""
    sets = []
    pos = 0
    while pos + 4 <= len(r.data):
        length, offset_size, header = r.initial_length(pos)
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
            if size:
                ranges.append((shndx, start, size))
            at += entry
        sets.append((unit, ranges))
        pos = end
    return sets


class _Unit(NamedTuple):
    """A unit header of .debug_info: what reading its DIEs needs."""

    offset_size: int
    address_size: int
    abbrev_offset: int
    first_die: int
    end: int
    compile: bool  #: a full compile unit (not a type or skeleton unit)
    start: int = 0  #: the unit header's offset: unit-relative references count from it


def _unit_header(info: _Reader, at: int) -> _Unit:
    length, offset_size, pos = info.initial_length(at)
    end = pos + length
    version = info.uint(pos, 2)
    if version >= 5:
        compile = info.uint(pos + 2, 1) == DW_UT_COMPILE
        address_size = info.uint(pos + 3, 1)
        _, abbrev_offset = info.relocated(pos + 4, offset_size)
        pos += 4 + offset_size
    elif version >= 2:
        compile = True
        _, abbrev_offset = info.relocated(pos + 2, offset_size)
        address_size = info.uint(pos + 2 + offset_size, 1)
        pos += 3 + offset_size
    else:
        raise _Unreadable
    if end > len(info.data) or end <= pos:
        raise _Unreadable
    return _Unit(offset_size, address_size, abbrev_offset, pos, end, compile, at)


def _unit_name(sections: _Sections, info: _Reader, at: int) -> str | None:
    """DW_AT_name of the unit at ``at`` in .debug_info, if it is a compile unit we read."""
    unit = _unit_header(info, at)
    abbrevs = sections.get(".debug_abbrev")
    if not unit.compile or abbrevs is None:
        return None
    code, pos = info.uleb(unit.first_die)
    _, _, attributes, _ = _abbreviations(abbrevs, unit.abbrev_offset).compile_unit(code)
    name: tuple[int, int] | None = None
    str_offsets_base = 8 if unit.offset_size == 4 else 16
    for attr, form in attributes:
        while form == FORM_INDIRECT:
            form, pos = info.uleb(pos)
        start = pos
        pos = _skip(info, pos, form, unit.address_size, unit.offset_size)
        if attr == DW_AT_NAME:
            name = (form, start)
        elif attr == DW_AT_STR_OFFSETS_BASE:
            str_offsets_base = info.relocated(start, unit.offset_size)[1]
    if name is None:
        return None
    return _string(sections, info, unit, *name, str_offsets_base)


def _string(sections: _Sections, info: _Reader, unit: _Unit, form: int, at: int,
            str_offsets_base: int) -> str | None:
    """The value of a string attribute stored at ``at`` in ``form``."""
    if form == FORM_STRING:
        return info.cstring(at)
    size = unit.offset_size
    if form in (FORM_STRP, FORM_LINE_STRP):
        value = info.relocated(at, size)[1]
    elif form in _STRX:
        width = _STRX[form]
        index = info.uleb(at)[0] if width == 0 else info.uint(at, width)
        offsets = sections.get(".debug_str_offsets")
        if offsets is None:
            return None
        value = offsets.relocated(str_offsets_base + index * size, size)[1]
    else:
        return None
    strings = sections.get(".debug_line_str" if form == FORM_LINE_STRP else ".debug_str")
    return strings.cstring(value) if strings is not None else None


#: An abbreviation: (tag, has children, [(attribute, form)], the values of its
#: DW_FORM_implicit_const attributes, which live here rather than in .debug_info).
_Abbreviation = tuple[int, bool, list[tuple[int, int]], dict[int, int]]


class _AbbrevTable:
    """One abbreviation table of .debug_abbrev, read only as far as the codes asked
    for need."""

    def __init__(self, r: _Reader, at: int) -> None:
        self._r = r
        self._start = at
        self._next: int | None = at  #: where the next entry starts; None: all read
        self._found: dict[int, _Abbreviation] = {}

    def get(self, code: int) -> _Abbreviation:
        while code not in self._found and self._next is not None:
            entry = _abbreviation_at(self._r, self._next)
            if entry is None:
                self._next = None
            else:
                number, abbreviation, self._next = entry
                self._found.setdefault(number, abbreviation)
        found = self._found.get(code)
        if found is None:
            raise _Unreadable
        return found

    def compile_unit(self, code: int) -> _Abbreviation:
        """The compile-unit entry ``code``. gcc puts it near the end of the unit's
        table, and a vmlinux has thousands of tables of a hundred entries each, so it
        is found by its bytes (the code, DW_TAG_compile_unit, children) right after the
        end of another entry, and then checked, rather than by reading every entry."""
        if code in self._found:
            return self._found[code]
        data = self._r.data
        needle = _uleb_bytes(code) + bytes((DW_TAG_COMPILE_UNIT, 1))
        at = data.find(needle, self._start)
        while at >= 0:
            if at == self._start or data[at - 2 : at] == b"\0\0":
                entry = _abbreviation_at(self._r, at)
                if entry is not None and entry[0] == code:
                    self._found[code] = entry[1]
                    return entry[1]
            at = data.find(needle, at + 1)
        return self.get(code)


def _uleb_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _abbreviation_at(r: _Reader, at: int) -> tuple[int, _Abbreviation, int] | None:
    """(code, abbreviation, where the next entry starts) of the entry at ``at``; None at
    the table's end."""
    code, at = r.uleb(at)
    if code == 0:
        return None
    tag, at = r.uleb(at)
    children = r.uint(at, 1) != 0
    at += 1
    data = r.data
    if isinstance(data, bytes):
        # Nearly always every attribute and form is one byte and none carries a
        # constant: then the pairs run up to the first two zero bytes at a pair's start.
        end = data.find(b"\0\0", at)
        pairs = data[at:end]
        if end >= 0 and not len(pairs) % 2 and pairs.isascii() \
                and FORM_IMPLICIT_CONST not in pairs[1::2]:
            r.budget.spend(len(pairs) + 2)
            plain = list(zip(pairs[::2], pairs[1::2], strict=True))
            return code, (tag, children, plain, {}), end + 2
    attributes: list[tuple[int, int]] = []
    constants: dict[int, int] = {}
    while True:
        attr, at = r.uleb(at)
        form, at = r.uleb(at)
        if form == FORM_IMPLICIT_CONST:
            constants[attr], at = r.sleb(at)
        if attr == 0 and form == 0:
            return code, (tag, children, attributes, constants), at
        attributes.append((attr, form))


def _abbreviations(r: _Reader, at: int) -> _AbbrevTable:
    """The abbreviation table at ``at`` of .debug_abbrev (one reader per table)."""
    table = r.tables.get(at)
    if table is None:
        table = r.tables[at] = _AbbrevTable(r, at)
    return table


class StructLayout(NamedTuple):
    """A C struct as the object's DWARF describes it."""

    size: int
    #: Member name -> byte offset (members without a name or a constant offset left out).
    members: dict[str, int]


def struct_layouts(elf: ElfFile, names: Collection[str]) -> dict[str, StructLayout]:
    """The first complete definition of each ``struct <name>`` in the object's DWARF.

    Names without a definition (no debug info, only declarations) are left out.
    """
    found: dict[str, StructLayout] = {}
    wanted = set(names)
    try:
        for walk in _compile_units(elf):
            if not wanted - found.keys():
                break
            _unit_structs(walk, wanted, found)
    except _Unreadable:
        pass
    return found


def _compile_units(elf: ElfFile) -> Iterator[_UnitWalk]:
    """Every compile unit of the object's .debug_info, in order (raises _Unreadable)."""
    sections = _Sections(elf)
    info, abbrevs = sections.get(".debug_info"), sections.get(".debug_abbrev")
    if info is None or abbrevs is None:
        return
    at = 0
    while at + 4 <= len(info.data):
        unit = _unit_header(info, at)
        if unit.compile:
            yield _UnitWalk(sections, info, abbrevs, unit)
        at = unit.end


def _unit_structs(walk: _UnitWalk, wanted: set[str], found: dict[str, StructLayout]) -> None:
    """Collect the layouts of wanted structs from one unit."""
    current: tuple[str, int, dict[str, int]] | None = None  # name, size, members
    current_depth = -1

    def inside(_tag: int) -> bool:
        """Inside a wanted struct every entry counts; elsewhere the children of anything
        (a function's locals, an unwanted struct's members) are jumped over."""
        return current is not None

    for die in walk.dies(_STRUCT_TAGS, _STRUCT_ATTRIBUTES, inside):
        values = die.values
        if die.tag == _END:
            if current is not None and die.depth == current_depth:
                found.setdefault(current[0], StructLayout(current[1], current[2]))
                current = None
        elif die.tag == DW_TAG_STRUCTURE_TYPE and current is None and die.children \
                and DW_AT_DECLARATION not in values and DW_AT_NAME in values \
                and DW_AT_BYTE_SIZE in values:
            name = walk.string(values[DW_AT_NAME])
            if name in wanted and name not in found:
                size = _constant(walk.info, *values[DW_AT_BYTE_SIZE])
                if size is not None:
                    current, current_depth = (name, size, {}), die.depth
        elif die.tag == DW_TAG_MEMBER and current is not None \
                and die.depth == current_depth + 1 \
                and DW_AT_NAME in values and DW_AT_DATA_MEMBER_LOCATION in values:
            member = walk.string(values[DW_AT_NAME])
            offset = _constant(walk.info, *values[DW_AT_DATA_MEMBER_LOCATION])
            if member is not None and offset is not None:
                current[2][member] = offset


class FunctionPlace(NamedTuple):
    """A function's symbol: its name, section and value (in a linked image the value
    is the address and the section is not needed)."""

    name: str
    section: str
    value: int


class InlinedCopies(NamedTuple):
    """Where the compiler inlined one function, in the compile unit of its own code."""

    unit: str  #: DW_AT_name of the unit read
    #: The functions whose code holds a copy, and how many each: by symbol (a compiler
    #: copy by its own name), else as DWARF names them.
    callers: dict[str, int]


def inlined_copies(elf: ElfFile, functions: Collection[FunctionPlace]
                   ) -> dict[FunctionPlace, InlinedCopies]:
    """For each function, the functions of its compile unit that hold an inlined copy
    of it.

    The unit is the one whose ranges hold the function's code. Without link-time
    optimisation the compiler inlines a function only where its body is visible, which
    is that unit, unless the body comes from a header: then other units' copies are not
    seen. Functions whose unit or DWARF entry cannot be found are left out.
    """
    found = _by_unit(elf, functions, _unit_inlines)
    symbols = elf.symtab.functions_at({at for _, holders in found.values()
                                       for _, at in holders if at is not None})
    copies: dict[FunctionPlace, InlinedCopies] = {}
    for place, (unit, holders) in found.items():
        callers: dict[str, int] = {}
        for (name, at), count in holders.items():
            caller = _symbol_of(name, symbols.get(at, ()) if at is not None else ())
            callers[caller] = callers.get(caller, 0) + count
        copies[place] = InlinedCopies(unit, callers)
    return copies


def _symbol_of(name: str, symbols: Sequence[str]) -> str:
    """The symbol a holder of inlined code goes by: its DWARF name, or the compiler
    copy (``name.constprop.0``...) whose code it is, which DWARF names by its origin."""
    if name in symbols or not symbols:
        return name
    copies = sorted(s for s in symbols if s.startswith(name + "."))
    return copies[0] if copies else name


class Signature(NamedTuple):
    """A function's prototype as the calling convention sees it: byte sizes."""

    #: Each parameter's size in bytes (None: a type whose size DWARF does not give).
    parameters: tuple[int | None, ...]
    returns: int | None  #: 0 for void
    variadic: bool


def signatures(elf: ElfFile, functions: Collection[FunctionPlace]
               ) -> dict[FunctionPlace, Signature]:
    """The prototype of each function, from the compile unit whose ranges hold its
    code; functions whose unit or entry cannot be found are left out."""
    return {place: signature
            for place, (_, signature) in _by_unit(elf, functions, _unit_signatures).items()}


_T = TypeVar("_T")


def _by_unit(elf: ElfFile, functions: Collection[FunctionPlace],
             read: Callable[[_UnitWalk, set[str]], dict[str, _T]]
             ) -> dict[FunctionPlace, tuple[str, _T]]:
    """``read`` run once over each compile unit that holds some of ``functions``: the
    unit's name and what ``read`` found, per function."""
    sections = _Sections(elf)
    info, abbrevs = sections.get(".debug_info"), sections.get(".debug_abbrev")
    if info is None or abbrevs is None or not functions:
        return {}
    try:
        units = _units_at(elf, sections, functions)
    except _Unreadable:
        return {}
    by_unit: dict[int, list[FunctionPlace]] = defaultdict(list)
    for place, unit_offset in units.items():
        by_unit[unit_offset].append(place)
    found: dict[FunctionPlace, tuple[str, _T]] = {}
    for unit_offset, places in sorted(by_unit.items()):
        try:
            unit = _unit_header(info, unit_offset)
            unit_name = _unit_name(sections, info, unit_offset)
            if not unit.compile or unit_name is None:
                continue
            walk = _UnitWalk(sections, info.loaded(unit.start, unit.end), abbrevs, unit)
            results = read(walk, {p.name for p in places})
        except _Unreadable:
            continue
        found.update((p, (unit_name, results[p.name])) for p in places if p.name in results)
    return found


def _units_at(elf: ElfFile, sections: _Sections, functions: Collection[FunctionPlace]
              ) -> dict[FunctionPlace, int]:
    """The .debug_info offset of the unit whose ranges hold each function's code."""
    aranges = sections.get(".debug_aranges")
    if aranges is None:
        return {}
    shndx_of = {sec.name: sec.index for sec in elf.sections}
    linked = elf.e_type != ET.REL
    spans = sorted((shndx if not linked else None, start, start + length, unit)
                   for unit, ranges in _aranges(aranges) for shndx, start, length in ranges
                   if (shndx is None) == linked)
    found = {}
    for place in functions:
        shndx = None if linked else shndx_of.get(place.section)
        if not linked and shndx is None:
            continue
        for span_shndx, start, end, unit in spans:
            if span_shndx == shndx and start <= place.value < end:
                found[place] = unit
                break
    return found


#: A function holding inlined code: its DWARF name and where its code starts
#: (section or None for an address, value), if DWARF says.
_Holder = tuple[str, tuple[int | None, int] | None]


def _unit_inlines(walk: _UnitWalk, names: set[str]) -> dict[str, dict[_Holder, int]]:
    """Per function of ``names`` described in the unit: its inlined copies, as the
    outermost function holding each copy -> how many it holds."""
    name_of: dict[int, str] = {}
    origin_of: dict[int, int] = {}
    starts: dict[int, tuple[int | None, int]] = {}  # DW_AT_low_pc of the holders
    copies: list[tuple[int, int]] = []  # (the copy's origin, the function holding it)
    holder = -1
    for die in walk.dies(_INLINE_TAGS, _INLINE_ATTRIBUTES, _holds_code):
        values = die.values
        if die.tag == DW_TAG_SUBPROGRAM:
            if die.depth == 1:
                holder = die.offset
                low_pc = values.get(DW_AT_LOW_PC)
                if low_pc is not None and low_pc[0] == FORM_ADDR:
                    starts[die.offset] = walk.info.relocated(low_pc[1],
                                                             walk.unit.address_size)
            if DW_AT_NAME in values:
                name = walk.string(values[DW_AT_NAME])
                if name is not None:
                    name_of[die.offset] = name
        origin = walk.reference(values.get(DW_AT_ABSTRACT_ORIGIN)
                                or values.get(DW_AT_SPECIFICATION))
        if origin is not None:
            if die.tag == DW_TAG_SUBPROGRAM:
                origin_of[die.offset] = origin
            elif holder >= 0:
                copies.append((origin, holder))

    def named(offset: int) -> str | None:
        for _ in range(_MAX_ORIGIN_CHAIN):  # concrete -> abstract -> declaration
            if offset in name_of:
                return name_of[offset]
            if offset not in origin_of:
                return None
            offset = origin_of[offset]
        return None

    found: dict[str, dict[_Holder, int]] = {n: {} for n in names if n in name_of.values()}
    for origin, holder_offset in copies:
        callee = named(origin)
        if callee in found:
            caller = (named(holder_offset) or f"<DIE {holder_offset:#x}>",
                      starts.get(holder_offset))
            found[callee][caller] = found[callee].get(caller, 0) + 1
    return found


class _Prototype:
    """A function's return and parameter types (.debug_info offsets), as read."""

    __slots__ = ("parameters", "returns", "variadic")

    def __init__(self, returns: int | None) -> None:
        self.returns = returns
        self.parameters: list[int | None] = []
        self.variadic = False


class Declarations(NamedTuple):
    """What an object declares and uses from elsewhere (``extern``), by the symbol name
    it links each by (an asm label's, else its C name); None where its units declare
    it differently (or a size DWARF does not give)."""

    functions: dict[str, Signature | None]
    variables: dict[str, int | None]  #: the declared type's size in bytes


def declarations(elf: ElfFile) -> Declarations:
    """The functions and variables the object's DWARF declares without defining them:
    what its code expects of the symbols it takes from other objects."""
    found = Declarations({}, {})
    try:
        for walk in _compile_units(elf):
            functions, variables = _unit_prototypes(walk, None)
            _merge(found.functions, functions)
            _merge(found.variables, variables)
    except _Unreadable:
        pass
    return found


def _merge(into: dict[str, _T | None], unit: dict[str, _T]) -> None:
    """One unit's declarations into the object's: units that declare a name
    differently leave nothing known of it (None)."""
    for name, value in unit.items():
        into[name] = value if into.get(name, value) == value else None


def _unit_signatures(walk: _UnitWalk, names: set[str]) -> dict[str, Signature]:
    """The prototypes of the functions of ``names`` that the unit defines."""
    return _unit_prototypes(walk, names)[0]


def _unit_prototypes(walk: _UnitWalk, names: set[str] | None
                     ) -> tuple[dict[str, Signature], dict[str, int | None]]:
    """The prototypes of the functions of ``names`` that the unit defines; with None,
    those of the functions it declares and the sizes of the variables it declares."""
    found: dict[str, _Prototype] = {}
    variables: dict[str, int | None] = {}  # name -> its type's offset
    current: _Prototype | None = None

    def inside(tag: int) -> bool:
        """Only a wanted function's own children (its parameters) are read."""
        return tag == DW_TAG_SUBPROGRAM and current is not None

    def wanted(values: dict[int, tuple[int, int]]) -> str | None:
        """The name an entry at the unit's level is wanted by, if it is."""
        declared = DW_AT_DECLARATION in values
        if names is not None:
            name = walk.string(values[DW_AT_NAME]) if DW_AT_NAME in values else None
            return name if name in names and not declared else None
        if not declared:
            return None
        for attribute in (DW_AT_LINKAGE_NAME, DW_AT_MIPS_LINKAGE_NAME, DW_AT_NAME):
            if attribute in values:
                return walk.string(values[attribute])
        return None

    tags, attributes = ((_SIGNATURE_TAGS, _SIGNATURE_ATTRIBUTES) if names is not None
                        else (_DECLARATION_TAGS, _DECLARATION_ATTRIBUTES))
    for die in walk.dies(tags, attributes, inside):
        values = die.values
        if die.tag == DW_TAG_SUBPROGRAM:
            current = None
            name = wanted(values) if die.depth == 1 else None
            if name is not None:
                current = found[name] = _Prototype(walk.reference(values.get(DW_AT_TYPE)))
        elif die.tag == DW_TAG_VARIABLE:
            name = wanted(values) if die.depth == 1 else None
            if name is not None:
                variables[name] = walk.reference(values.get(DW_AT_TYPE))
        elif die.tag == _END:
            if die.depth == 1:
                current = None
        elif die.tag == DW_TAG_FORMAL_PARAMETER:
            if current is not None and die.depth == 2:
                current.parameters.append(walk.reference(values.get(DW_AT_TYPE)))
        elif die.tag == DW_TAG_UNSPECIFIED_PARAMETERS and current is not None \
                and die.depth == 2:
            current.variadic = True

    types: dict[int, tuple[int, dict[int, tuple[int, int]]] | None] = {}  # by offset

    def size_of(offset: int | None) -> int | None:
        for _ in range(_MAX_TYPE_CHAIN):
            if offset is None:
                return None
            if offset not in types:
                try:
                    types[offset] = walk.entry(offset, _SIZE_ATTRIBUTES)
                except _Unreadable:  # a reference into the middle of an entry
                    types[offset] = None
            entry = types[offset]
            if entry is None or entry[0] not in _SIZED_TAGS:
                return None
            tag, values = entry
            if DW_AT_BYTE_SIZE in values:
                size = _constant(walk.info, *values[DW_AT_BYTE_SIZE])
                if size is not None:
                    return size
            if tag not in _QUALIFIER_TAGS:
                return None
            offset = walk.reference(values.get(DW_AT_TYPE))
        return None

    return ({name: Signature(tuple(size_of(p) for p in proto.parameters),
                             0 if proto.returns is None else size_of(proto.returns),
                             proto.variadic)
             for name, proto in found.items()},
            {name: size_of(of) for name, of in variables.items()})


def _holds_code(tag: int) -> bool:
    """Whether an entry's children can hold an inlined copy: not a type's."""
    return tag not in _TYPE_TAGS


class _Die(NamedTuple):
    """One debugging information entry, or the end of a read entry's children."""

    offset: int  #: in .debug_info
    depth: int  #: 0: the unit's own entry
    tag: int  #: _END for the end of the children of the entry at ``depth``
    children: bool
    #: attribute -> (form, where its value is; for DW_FORM_implicit_const the value)
    values: dict[int, tuple[int, int]]


class _UnitWalk:
    """One unit's entries in order, with the values of the attributes asked for."""

    def __init__(self, sections: _Sections, info: _Reader, abbrevs: _Reader,
                 unit: _Unit) -> None:
        self.sections, self.info, self.unit = sections, info, unit
        self.table = _abbreviations(abbrevs, unit.abbrev_offset)
        self.str_offsets_base = 8 if unit.offset_size == 4 else 16
        self._entry_plans: dict[tuple[int, frozenset[int]], _EntryPlan] = {}

    def string(self, value: tuple[int, int]) -> str | None:
        return _string(self.sections, self.info, self.unit, *value, self.str_offsets_base)

    def reference(self, value: tuple[int, int] | None) -> int | None:
        """The .debug_info offset a reference attribute points at."""
        if value is None:
            return None
        form, at = value
        if form in _UNIT_REFERENCE:
            return self.unit.start + self.info.uint(at, _UNIT_REFERENCE[form])
        if form == FORM_REF_UDATA:
            return self.unit.start + self.info.uleb(at)[0]
        if form == FORM_REF_ADDR:
            return self.info.relocated(at, self.unit.offset_size)[1]
        return None

    def dies(self, tags: frozenset[int], attributes: frozenset[int],
             descend: Callable[[int], bool]) -> Iterator[_Die]:
        """Each entry whose tag is in ``tags``, and the end of its children (tag _END).
        The children of an entry below the unit's for which ``descend(tag)`` is false
        when the walk reaches them are jumped over by its sibling link, if it has one."""
        info, unit, table = self.info, self.unit, self.table
        attributes = attributes | {DW_AT_SIBLING, DW_AT_STR_OFFSETS_BASE}
        # The unit's bytes, read here directly: a unit is walked once per question,
        # so it is paid for once, up front.
        data, base = info.span(unit.start, unit.end)
        info.budget.spend(unit.end - unit.start)
        plans: dict[int, _EntryPlan] = {}
        open_depths: list[int] = []  #: depths of the yielded entries whose children run
        pos, depth = unit.first_die, 0
        try:
            while pos < unit.end:
                offset = pos
                code = data[pos - base]
                if code < 0x80:  # nearly every code: one byte
                    pos += 1
                else:
                    code, pos = info.uleb(pos)
                if code == 0:
                    depth -= 1
                    if open_depths and open_depths[-1] == depth:
                        open_depths.pop()
                        yield _Die(offset, depth, _END, False, {})
                    if depth < 0:
                        return
                    continue
                plan = plans.get(code)
                if plan is None:
                    plan = plans[code] = _EntryPlan(table.get(code), tags, attributes, unit)
                tag, children = plan.tag, plan.children
                if plan.fixed is not None and depth > 0:  # not asked for, a fixed size
                    die_size, sibling_at, sibling_width = plan.fixed
                    after = unit.start + info.uint(pos + sibling_at, sibling_width) \
                        if children and sibling_width else 0
                    pos += die_size
                    if children:
                        if pos < after <= unit.end and not descend(tag):
                            pos = after
                        else:
                            depth += 1
                    continue
                values, pos = self._values(plan, pos, data, base)
                if depth == 0 and DW_AT_STR_OFFSETS_BASE in values:
                    self.str_offsets_base = info.relocated(
                        values[DW_AT_STR_OFFSETS_BASE][1], unit.offset_size)[1]
                if plan.asked:
                    yield _Die(offset, depth, tag, children, values)
                if not children:
                    continue
                sibling = values.get(DW_AT_SIBLING)
                if depth > 0 and sibling and sibling[0] in _UNIT_REFERENCE \
                        and not descend(tag):
                    after = unit.start + info.uint(sibling[1], _UNIT_REFERENCE[sibling[0]])
                    if pos < after <= unit.end:
                        pos = after
                        continue
                if plan.asked:
                    open_depths.append(depth)
                depth += 1
        except IndexError:  # a value that runs past the unit's end
            raise _Unreadable from None

    def _values(self, plan: _EntryPlan, pos: int, data: bytes, base: int
                ) -> tuple[dict[int, tuple[int, int]], int]:
        """The kept values of the entry whose attributes start at ``pos``, and where
        the next entry starts (``data`` holds the unit from section offset ``base``)."""
        info, unit = self.info, self.unit
        values: dict[int, tuple[int, int]] = {}
        for attr, form, size, keep in plan.steps:
            if form == FORM_INDIRECT:
                while form == FORM_INDIRECT:
                    form, pos = info.uleb(pos)
                if form == FORM_IMPLICIT_CONST:
                    raise _Unreadable  # its value lives in the abbreviation
                size = _SIZE_OTHER
            if keep:
                values[attr] = (form, plan.constants[attr]
                                if form == FORM_IMPLICIT_CONST else pos)
            if size >= 0:
                pos += size
            elif size == _SIZE_LEB128:
                while data[pos - base] & 0x80:
                    pos += 1
                pos += 1
            elif size == _SIZE_STRING:
                pos = info.cstring_end(pos) + 1
            else:
                pos = _skip(info, pos, form, unit.address_size, unit.offset_size)
        return values, pos

    def entry(self, offset: int, attributes: frozenset[int]
              ) -> tuple[int, dict[int, tuple[int, int]]] | None:
        """The tag of the unit's entry at ``offset`` and the values of its
        ``attributes``: what a reference leads to, read when it is followed rather
        than kept for every entry of the walk. None outside the unit."""
        unit = self.unit
        if not unit.first_die <= offset < unit.end:
            return None
        code, pos = self.info.uleb(offset)
        if code == 0:
            return None
        plan = self._entry_plans.get((code, attributes))
        if plan is None:
            plan = _EntryPlan(self.table.get(code), frozenset(), attributes, unit)
            self._entry_plans[code, attributes] = plan
        data, base = self.info.span(unit.start, unit.end)
        try:
            return plan.tag, self._values(plan, pos, data, base)[0]
        except IndexError:  # a value that runs past the unit's end
            raise _Unreadable from None


#: How a value's size is found, when it is not a fixed number of bytes.
_SIZE_LEB128, _SIZE_STRING, _SIZE_OTHER = -1, -2, -3


class _EntryPlan:
    """How a walk reads the entries of one abbreviation: its tag, whether the walk
    yields them, and the size of each value, worked out once per walk."""

    __slots__ = ("asked", "children", "constants", "fixed", "steps", "tag")

    def __init__(self, abbreviation: _Abbreviation, tags: frozenset[int],
                 attributes: frozenset[int], unit: _Unit) -> None:
        self.tag, self.children, forms, self.constants = abbreviation
        self.asked = self.tag in tags
        #: (attribute, form, size or a _SIZE_* kind, whether its value is kept)
        self.steps = [(attr, form, _value_size(form, unit), attr in attributes)
                      for attr, form in forms]
        #: An entry not asked for whose values all have fixed sizes is stepped over in
        #: one add: (its size, its sibling reference's offset and width; width 0: none).
        self.fixed: tuple[int, int, int] | None = None
        if not self.asked and all(size >= 0 for _, _, size, _ in self.steps):
            sibling_at = sibling_width = size = 0
            for attr, form, step, _ in self.steps:
                if attr == DW_AT_SIBLING and form in _UNIT_REFERENCE:
                    sibling_at, sibling_width = size, step
                size += step
            self.fixed = (size, sibling_at, sibling_width)


def _value_size(form: int, unit: _Unit) -> int:
    """The bytes a value of ``form`` takes, or how to find out (_SIZE_*)."""
    if form in _FIXED:
        return _FIXED[form]
    if form in _OFFSET:
        return unit.offset_size
    if form == FORM_ADDR:
        return unit.address_size
    if form in (FORM_FLAG_PRESENT, FORM_IMPLICIT_CONST):
        return 0
    if form in _LEB128:
        return _SIZE_LEB128
    if form == FORM_STRING:
        return _SIZE_STRING
    return _SIZE_OTHER


def _constant(r: _Reader, form: int, at: int) -> int | None:
    """An unsigned constant attribute (byte size, member offset); None for other forms.
    ``at``: where the value is, or for DW_FORM_implicit_const the value itself."""
    if form == FORM_IMPLICIT_CONST:
        return at if at >= 0 else None
    if form in _DATA:
        return r.uint(at, _DATA[form])
    if form == FORM_UDATA:
        return r.uleb(at)[0]
    return None


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


# .debug_line (DWARF 2-5): the standard opcodes, and the extended ones read here.
_LNS_COPY, _LNS_ADVANCE_PC, _LNS_ADVANCE_LINE, _LNS_SET_FILE = 1, 2, 3, 4
_LNS_CONST_ADD_PC, _LNS_FIXED_ADVANCE_PC = 8, 9
_LNE_END_SEQUENCE, _LNE_SET_ADDRESS = 1, 2
_LNCT_PATH, _LNCT_DIRECTORY_INDEX = 1, 2


def line_rows(elf: ElfFile) -> dict[int, list[LineRow]]:
    """Per section, the rows of the object's line tables sorted by offset: which source
    line the code at each offset comes from. Sequences start at a relocated address,
    which says the section; what cannot be read is left out."""
    sections = _Sections(elf)
    table = sections.get(".debug_line")
    found: dict[int, list[LineRow]] = defaultdict(list)
    if table is None:
        return {}
    at = 0
    try:
        while at + 4 <= len(table.data):
            at = _line_program(sections, table, at, found)
    except _Unreadable:
        pass
    # Of the rows at one address the last counts; where one sequence ends and another
    # starts, the start: a stable sort with the ends first.
    return {shndx: sorted(rows, key=lambda r: (r.start, r.line != 0))
            for shndx, rows in found.items()}


def _line_program(sections: _Sections, r: _Reader, at: int,
                  found: dict[int, list[LineRow]]) -> int:
    """Run one line program into ``found``; the offset after it."""
    length, offset_size, pos = r.initial_length(at)
    end = pos + length
    if end > len(r.data):
        raise _Unreadable
    version = r.uint(pos, 2)
    pos += 2
    address_size = 8
    if version >= 5:
        address_size = r.uint(pos, 1)
        pos += 2  # and the segment selector size
    header_length = r.uint(pos, offset_size)
    pos += offset_size
    program = pos + header_length
    min_length = r.uint(pos, 1)
    pos += 1
    if version >= 4:
        pos += 1  # maximum operations per instruction (VLIW only)
    pos += 1  # default is_stmt
    line_base = r.uint(pos, 1) - (256 if r.uint(pos, 1) >= 128 else 0)
    line_range, opcode_base = r.uint(pos + 1, 1), r.uint(pos + 2, 1)
    lengths = [r.uint(pos + 3 + i, 1) for i in range(opcode_base - 1)]
    pos += 3 + len(lengths)
    file_name: Callable[[int], str | None]
    if version >= 5:
        file_name = _v5_files(sections, r, pos, offset_size, address_size).get
    elif version >= 2:
        file_name = _v4_files(r, pos).get
    else:
        raise _Unreadable
    if not line_range or program > end:
        raise _Unreadable
    _run(r, program, end, file_name, (min_length, line_base, line_range, opcode_base, lengths),
         found)
    return end


def _run(r: _Reader, pos: int, end: int, file_name: Callable[[int], str | None],
         params: tuple[int, int, int, int, list[int]], found: dict[int, list[LineRow]]) -> None:
    """The line-number state machine: a row for each line and its address (a row of a
    file whose name ``file_name`` does not know is left out)."""
    min_length, line_base, line_range, opcode_base, lengths = params
    shndx: int | None = None
    address, file, line = 0, 1, 1
    added = 0  #: rows of the current sequence

    def row() -> None:
        nonlocal added
        if shndx is not None and (name := file_name(file)) is not None:
            found[shndx].append(LineRow(address, name, line))
            added += 1

    while pos < end:
        opcode = r.uint(pos, 1)
        pos += 1
        if opcode >= opcode_base:
            adjusted = opcode - opcode_base
            address += adjusted // line_range * min_length
            line += line_base + adjusted % line_range
            row()
        elif opcode == 0:
            size, pos = r.uleb(pos)
            extended = r.uint(pos, 1)
            if extended == _LNE_END_SEQUENCE:
                if shndx is not None:  # the end: no line from here on
                    rows = found[shndx]
                    while added and rows[-1].start == address:  # empty rows at the end
                        rows.pop()
                        added -= 1
                    rows.append(LineRow(address, "", 0))
                shndx, address, file, line, added = None, 0, 1, 1, 0
            elif extended == _LNE_SET_ADDRESS:
                shndx, address = r.relocated(pos + 1, size - 1)
            pos += size
        elif opcode == _LNS_COPY:
            row()
        elif opcode == _LNS_ADVANCE_PC:
            advance, pos = r.uleb(pos)
            address += advance * min_length
        elif opcode == _LNS_ADVANCE_LINE:
            delta, pos = r.sleb(pos)
            line += delta
        elif opcode == _LNS_SET_FILE:
            file, pos = r.uleb(pos)
        elif opcode == _LNS_CONST_ADD_PC:
            address += (255 - opcode_base) // line_range * min_length
        elif opcode == _LNS_FIXED_ADVANCE_PC:
            address += r.uint(pos, 2)
            pos += 2
        else:  # any other standard opcode: skip its LEB128 operands
            for _ in range(lengths[opcode - 1]):
                _, pos = r.uleb(pos)


def _v4_files(r: _Reader, pos: int) -> dict[int, str]:
    """DWARF 2-4: include_directories, then file_names, 1-based."""
    directories = [""]
    while r.uint(pos, 1):
        directory_name, pos = r.cstring_at(pos)
        directories.append(directory_name)
    pos += 1
    files: dict[int, str] = {}
    index = 1
    while r.uint(pos, 1):
        name, pos = r.cstring_at(pos)
        directory, pos = r.uleb(pos)
        _, pos = r.uleb(pos)  # modification time
        _, pos = r.uleb(pos)  # length
        files[index] = _joined(directories, directory, name)
        index += 1
    return files


def _v5_files(sections: _Sections, r: _Reader, pos: int, offset_size: int,
              address_size: int) -> _FileTable:
    """DWARF 5: self-describing directory and file tables, 0-based. The directories
    are read here; of each file only where its values are."""
    unit = _Unit(offset_size, address_size, 0, 0, 0, True)
    tables: list[list[tuple[tuple[int, int] | None, int]]] = []  # (path's form and place, dir)
    for _ in range(2):
        count = r.uint(pos, 1)
        pos += 1
        formats = []
        for _ in range(count):
            content, pos = r.uleb(pos)
            form, pos = r.uleb(pos)
            formats.append((content, form))
        entries, pos = r.uleb(pos)
        rows: list[tuple[tuple[int, int] | None, int]] = []
        for _ in range(entries):
            path: tuple[int, int] | None = None
            directory, start = 0, pos
            for content, form in formats:
                if content == _LNCT_PATH:
                    path = (form, pos)
                elif content == _LNCT_DIRECTORY_INDEX:
                    directory = _constant(r, form, pos) or 0
                pos = _skip(r, pos, form, address_size, offset_size)
            if pos == start:
                raise _Unreadable  # entries of no bytes: the count could be any
            rows.append((path, directory))
        tables.append(rows)

    def string(path: tuple[int, int] | None) -> str:
        return "" if path is None else _string(sections, r, unit, *path, 0) or ""

    return _FileTable(tables[1], [string(path) for path, _ in tables[0]], string)


class _FileTable:
    """A DWARF 5 line table's files, each name read when a row first needs it: a
    module's table lists every header its unit included (hundreds), its rows name a
    few."""

    def __init__(self, files: list[tuple[tuple[int, int] | None, int]], directories: list[str],
                 string: Callable[[tuple[int, int] | None], str]) -> None:
        self._files, self._directories, self._string = files, directories, string
        self._names: dict[int, str | None] = {}

    def get(self, index: int) -> str | None:
        """File ``index``'s path; None without one, or if it cannot be read."""
        if index not in self._names:
            self._names[index] = self._read(index)
        return self._names[index]

    def _read(self, index: int) -> str | None:
        if not 0 <= index < len(self._files):
            return None
        path, directory = self._files[index]
        try:
            return _joined(self._directories, directory, self._string(path))
        except _Unreadable:
            return None  # its rows are left out, as a program that cannot be read


def _joined(directories: list[str], index: int, name: str) -> str:
    """A file of the line table as a path: its directory unless absolute, or the
    compilation directory itself (index 0)."""
    if name.startswith("/") or index == 0 or index >= len(directories):
        return name
    return posixpath.join(directories[index], name)
