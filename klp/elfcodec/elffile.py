"""The object model: an ELF64 file, its sections and their typed views.

Reading maps the file and decodes only the headers eagerly; a section's table is
decoded the first time someone asks for it, and once. The editing methods keep
every cross-reference (sh_link, sh_info, st_shndx, r_info, group members,
e_shstrndx) consistent, so callers never renumber anything themselves.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from klp.elfcodec.arch import ARCHES, Arch
from klp.elfcodec.constants import (
    ELFCLASS64,
    ELFDATA2LSB,
    ELFDATA2MSB,
    ELFMAG,
    EM,
    SHF,
    SHN,
    SHT,
    STB,
    STT,
    r_info,
    r_type,
)
from klp.elfcodec.fast import Codecs, codecs
from klp.elfcodec.records import (
    E_MACHINE,
    E_PHENTSIZE,
    E_PHNUM,
    E_PHOFF,
    E_SHENTSIZE,
    E_SHNUM,
    E_SHOFF,
    E_SHSTRNDX,
    E_TYPE,
    EHDR_SIZE,
    PHDR_SIZE,
    SH_ADDRALIGN,
    SH_INFO,
    SH_LINK,
    SH_NAME,
    SH_OFFSET,
    SH_SIZE,
    SH_TYPE,
    SHDR_SIZE,
)
from klp.elfcodec.relocs import RelaTable, WordTable
from klp.elfcodec.strings import StringTable, decode_name
from klp.elfcodec.symbols import SymbolTable, SymRow
from klp.elfcodec.writer import encode, read_back, write_atomic
from klp.errors import ElfError
from klp.inputs import StrPath, open_input

#: e_phnum escape: the program header count is in section 0's sh_info (gABI).
PN_XNUM = 0xFFFF

View = SymbolTable | RelaTable | StringTable | WordTable
_View = TypeVar("_View", StringTable, SymbolTable, RelaTable, WordTable)


#: What :meth:`ElfFile._check_layout` calls the parts of a file that are not sections.
_ELF_HEADER, _SECTION_HEADERS, _PROGRAM_HEADERS = -1, -2, -3
_TABLES = {_ELF_HEADER: "the ELF header", _SECTION_HEADERS: "the section header table",
           _PROGRAM_HEADERS: "the program header table"}


def _span_name(what: int) -> str:
    return _TABLES.get(what) or f"section [{what}]"


#: The section types whose links :meth:`ElfFile._check_links` checks.
_LINKED_TYPES = frozenset({SHT.RELA, SHT.REL, SHT.SYMTAB_SHNDX})


def _has_contents(sh_type: int) -> bool:
    return sh_type not in (SHT.NOBITS, SHT.NULL)


class Section:
    """One section: its header fields, its name and its contents.

    ``data`` is the original bytes until the section is edited or a view of it is
    decoded; from then on the view is the truth and is encoded at write time.
    """

    __slots__ = (
        "_raw",
        "_view",
        "elf",
        "index",
        "name",
        "orig_offset",
        "orig_size",
        "sh_addr",
        "sh_addralign",
        "sh_entsize",
        "sh_flags",
        "sh_info",
        "sh_link",
        "sh_name",
        "sh_offset",
        "sh_size",
        "sh_type",
    )

    def __init__(self, elf: ElfFile, index: int, header: tuple[int, ...], name: str) -> None:
        self.elf = elf
        self.index = index
        self.name = name
        (
            self.sh_name,
            self.sh_type,
            self.sh_flags,
            self.sh_addr,
            self.sh_offset,
            self.sh_size,
            self.sh_link,
            self.sh_info,
            self.sh_addralign,
            self.sh_entsize,
        ) = header
        #: Where the section was in the input (None for a new section).
        self.orig_offset: int | None = self.sh_offset
        self.orig_size = self.sh_size
        self._raw: bytes | memoryview | None = None
        self._view: View | None = None

    def __repr__(self) -> str:
        return f"<Section [{self.index}] {self.name} type={self.sh_type:#x}>"

    @property
    def label(self) -> str:
        """How messages name the section: ``name [index]`` (names are not unique)."""
        return f"{self.name} [{self.index}]"

    @property
    def header(self) -> tuple[int, ...]:
        return (
            self.sh_name,
            self.sh_type,
            self.sh_flags,
            self.sh_addr,
            self.sh_offset,
            self.sh_size,
            self.sh_link,
            self.sh_info,
            self.sh_addralign,
            self.sh_entsize,
        )

    @property
    def is_nobits(self) -> bool:
        return self.sh_type == SHT.NOBITS

    @property
    def has_contents(self) -> bool:
        """Whether the section has bytes in the file (not NOBITS, not an inactive
        SHT_NULL header, whose other fields mean nothing: gABI)."""
        return _has_contents(self.sh_type)

    def raw(self) -> bytes | memoryview:
        """The input bytes of this section (empty for NOBITS, NULL and new sections)."""
        if self._raw is None:
            if not self.has_contents or self.orig_offset is None:
                self._raw = b""
            else:
                start = self.orig_offset
                self._raw = self.elf.buffer[start : start + self.orig_size]
        return self._raw

    @property
    def data(self) -> bytes:
        """The current contents, encoded from the view when one was decoded."""
        if self._view is not None:
            return self._view.encode()
        return bytes(self.raw())

    @data.setter
    def data(self, value: bytes) -> None:
        self._view = None
        self._raw = bytes(value)
        self.elf.modified = True

    @property
    def decoded(self) -> bool:
        return self._view is not None


class ElfFile:
    """An ELF64 file of a supported machine, read from a path or from bytes."""

    def __init__(self, buffer: bytes | mmap.mmap, path: str) -> None:
        self.path = path
        #: The file's bytes (mapped when opened from a path), and a view of them.
        self.contents = buffer
        self.buffer = memoryview(buffer)
        #: Set by every edit; an unmodified file writes back byte for byte.
        self.modified = False
        self._parse_headers()

    # -- opening ---------------------------------------------------------------

    @classmethod
    def open(cls, path: StrPath) -> ElfFile:
        """Map ``path`` read-only and parse its headers."""
        name = os.fspath(path)
        try:
            with open_input(name) as f:
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    raise ElfError(name, "empty file")
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as e:
            raise ElfError(name, e.strerror or str(e)) from None
        return cls(mapped, name)

    @classmethod
    def from_bytes(cls, data: bytes, path: str = "<bytes>") -> ElfFile:
        return cls(data, path)

    def error(self, reason: str, offset: int | None = None) -> ElfError:
        return ElfError(self.path, reason, offset)

    def _parse_headers(self) -> None:
        buf = self.buffer
        size = len(buf)
        if size < 16 or bytes(buf[:4]) != ELFMAG:
            raise self.error("not an ELF file (bad magic)", 0)
        ei_class, ei_data = buf[4], buf[5]
        if ei_class != ELFCLASS64:
            raise self.error(f"unsupported ELF class {ei_class} (klp reads ELF64 only)", 4)
        if ei_data not in (ELFDATA2LSB, ELFDATA2MSB):
            raise self.error(f"bad data encoding {ei_data}", 5)
        self.little = ei_data == ELFDATA2LSB
        self.codecs: Codecs = codecs(self.little)
        if size < EHDR_SIZE:
            raise self.error("truncated ELF header", size)
        self.ehdr: list[Any] = list(self.codecs.Ehdr.unpack_one(buf))
        machine = self.e_machine
        arch = ARCHES.get(machine)
        if arch is None:
            try:
                label = f"EM_{EM(machine).name}"
            except ValueError:
                label = str(machine)
            raise self.error(f"unsupported machine {label}", 18)
        if arch.little != self.little:
            order = "little" if self.little else "big"
            raise self.error(f"unsupported {order}-endian {arch.name} file", 5)
        self.arch: Arch = arch
        self._parse_section_headers()

    def _parse_section_headers(self) -> None:
        buf = self.buffer
        shoff, shnum, shstrndx = self.ehdr[E_SHOFF], self.ehdr[E_SHNUM], self.ehdr[E_SHSTRNDX]
        self.sections: list[Section] = []
        self._shstrtab: Section | None = None
        self._orig_shnum = 0
        if shoff == 0:
            if shnum:
                raise self.error("e_shnum is set but e_shoff is 0", 0x28)
            return
        if self.ehdr[E_SHENTSIZE] != SHDR_SIZE:
            raise self.error(f"e_shentsize {self.ehdr[E_SHENTSIZE]} is not {SHDR_SIZE}", 0x3A)
        if shoff + SHDR_SIZE > len(buf):
            raise self.error("section header table outside the file", 0x28)
        shdr = self.codecs.Shdr
        first = shdr.unpack_one(buf, shoff)
        if shnum == 0:  # extended numbering: the count is in section 0's sh_size
            shnum = first[SH_SIZE]
        if shstrndx == SHN.XINDEX:
            shstrndx = first[SH_LINK]
        end = shoff + shnum * SHDR_SIZE
        if end > len(buf):
            raise self.error(f"section header table ({shnum} entries) outside the file", shoff)
        headers = shdr.unpack(buf[shoff:end])
        if not 0 < shstrndx < shnum:
            raise self.error(f"section name table index {shstrndx} out of range", 0x3E)
        self._check_layout(headers, shoff)
        names_hdr = headers[shstrndx]
        if names_hdr[SH_TYPE] != SHT.STRTAB:
            raise self.error(f"section name table [{shstrndx}] is not SHT_STRTAB", 0x3E)
        start = names_hdr[SH_OFFSET]
        names = bytes(buf[start : start + names_hdr[SH_SIZE]])
        for i, h in enumerate(headers):
            name_at = h[SH_NAME]
            end_name = names.find(b"\0", name_at)
            if name_at >= len(names) or end_name < 0:
                raise self.error(
                    f"section [{i}] name offset {name_at:#x} outside the name table",
                    shoff + i * SHDR_SIZE,
                )
            self.sections.append(Section(self, i, h, decode_name(names[name_at:end_name])))
        self._shstrtab = self.sections[shstrndx]
        self._orig_shnum = shnum
        self._check_links(shoff)

    def _check_layout(self, headers: list[tuple[int, ...]], shoff: int) -> None:
        """Every section's bytes lie inside the file, clear of the headers and of each
        other; alignments are 0, 1 or a power of two (gABI). The writer puts sections
        back where they were: an overlap would let one section's old bytes overwrite
        another's new ones."""
        if headers[0][SH_TYPE] != SHT.NULL:  # gABI: index 0 is reserved, SHT_NULL
            raise self.error("section [0] is not SHT_NULL", shoff)
        size = len(self.buffer)
        # (start, end, what): a section by its index, the tables by _TABLES' keys
        spans = [(0, EHDR_SIZE, _ELF_HEADER),
                 (shoff, shoff + len(headers) * SHDR_SIZE, _SECTION_HEADERS)]
        phoff, phentsize, phnum = self.ehdr[E_PHOFF], self.ehdr[E_PHENTSIZE], self.ehdr[E_PHNUM]
        if phnum == PN_XNUM:  # gABI: the real count is in section 0's sh_info
            phnum = headers[0][SH_INFO]
        if phnum:
            if phentsize != PHDR_SIZE:
                raise self.error(f"e_phentsize {phentsize} is not {PHDR_SIZE}", 0x36)
            if phoff + phnum * PHDR_SIZE > size:
                raise self.error(f"program header table ({phnum} entries) outside the file",
                                 0x20)
            spans.append((phoff, phoff + phnum * PHDR_SIZE, _PROGRAM_HEADERS))
        for i, h in enumerate(headers):
            align = h[SH_ADDRALIGN]
            if align & (align - 1):
                raise self.error(f"section [{i}]: sh_addralign {align:#x} is not a power of two",
                                 shoff + i * SHDR_SIZE)
            if not i or not _has_contents(h[SH_TYPE]):
                continue
            offset, length = h[SH_OFFSET], h[SH_SIZE]
            if offset + length > size:
                raise self.error(
                    f"section [{i}] (offset {offset:#x}, size {length:#x}) extends past the end",
                    shoff + i * SHDR_SIZE,
                )
            if length:
                spans.append((offset, offset + length, i))
        spans.sort()
        reach, owner = 0, 0
        for start, stop, what in spans:
            if start < reach:
                raise self.error(f"{_span_name(owner)} and {_span_name(what)} (offset "
                                 f"{start:#x}, size {stop - start:#x}) overlap", start)
            if stop > reach:
                reach, owner = stop, what

    def _check_links(self, shoff: int) -> None:
        """The links convert follows without decoding, checked up front: relocations
        use a symbol table and apply to a section, one SHT_SYMTAB_SHNDX per table."""
        sections = self.sections
        shndx_tables: set[int] = set()
        for sec in sections:
            if sec.sh_type not in _LINKED_TYPES:
                continue
            at = shoff + sec.index * SHDR_SIZE
            relocations = sec.sh_type != SHT.SYMTAB_SHNDX
            if relocations and sec.sh_size == 0:
                continue
            link = sec.sh_link
            if not 0 < link < len(sections) or sections[link].sh_type not in (
                    SHT.SYMTAB, SHT.DYNSYM):
                raise self.error(f"{sec.label}: sh_link [{link}] is not a symbol table", at)
            if relocations:
                # gABI: sh_info is the section the relocations apply to; only dynamic
                # relocations (no SHF_INFO_LINK) may leave it 0.
                info = sec.sh_info
                if info >= len(sections):
                    raise self.error(f"{sec.label}: sh_info {info} is out of range", at)
                if info == sec.index:
                    raise self.error(f"{sec.label}: sh_info applies it to itself", at)
                if info == 0 and sec.sh_flags & SHF.INFO_LINK:
                    raise self.error(f"{sec.label}: sh_info is 0 but SHF_INFO_LINK is set", at)
            else:
                if sec.sh_link in shndx_tables:
                    table = sections[sec.sh_link]
                    raise self.error(f"two SHT_SYMTAB_SHNDX sections for {table.label}", at)
                shndx_tables.add(sec.sh_link)

    # -- header fields ------------------------------------------------------------

    @property
    def e_type(self) -> int:
        return int(self.ehdr[E_TYPE])

    @property
    def e_machine(self) -> int:
        return int(self.ehdr[E_MACHINE])

    @property
    def shstrtab_section(self) -> Section:
        """The section name table (e_shstrndx)."""
        if self._shstrtab is None:
            raise self.error("no section headers")
        return self._shstrtab

    @property
    def shstrndx(self) -> int:
        """e_shstrndx, as the index it is now (0 in a file without sections)."""
        return self._shstrtab.index if self._shstrtab is not None else 0

    # -- lookup ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[Section]:
        return iter(self.sections)

    def section(self, index: int) -> Section:
        if not 0 <= index < len(self.sections):
            raise self.error(f"section index {index} out of range")
        return self.sections[index]

    def find_section(self, name: str) -> Section | None:
        """The first section called ``name`` (names are not unique; prefer indices)."""
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    def sections_of_type(self, sh_type: int) -> list[Section]:
        return [s for s in self.sections if s.sh_type == sh_type]

    def _linked(self, sec: Section, want: tuple[int, ...], what: str) -> Section:
        if not 0 < sec.sh_link < len(self.sections):
            raise self.error(f"{sec.label}: sh_link {sec.sh_link} out of range")
        target = self.sections[sec.sh_link]
        if target.sh_type not in want or target is sec:
            raise self.error(
                f"{sec.label}: sh_link {target.label} is not {what}"
            )
        return target

    # -- views (decoded once, lazily) -------------------------------------------------

    def _entries(self, sec: Section, entsize: int) -> bytes | memoryview:
        raw = sec.raw()
        if sec.sh_entsize not in (0, entsize) or len(raw) % entsize:
            raise self.error(
                f"{sec.label}: size {len(raw):#x} / entsize {sec.sh_entsize} "
                f"is not a table of {entsize}-byte entries",
                sec.orig_offset,
            )
        return raw

    def _view(self, sec: Section, kind: type[_View], types: tuple[int, ...], what: str
              ) -> _View | None:
        """The ``kind`` view ``sec`` has decoded already, or None if none yet; a section
        of another type, or one already decoded as something else, is refused."""
        view = sec._view
        if isinstance(view, kind):
            return view
        if view is not None or sec.sh_type not in types:
            raise self.error(f"{sec.label} is not {what}")
        return None

    def strings(self, sec: Section) -> StringTable:
        if (view := self._view(sec, StringTable, (SHT.STRTAB,), "a string table")) is not None:
            return view
        data = bytes(sec.raw())
        if data[-1:] not in (b"", b"\0"):
            # gABI: the last byte is NUL, so that every string ends; a name
            # appended to a table without it would become part of older names
            raise self.error(f"{sec.label}: string table does not end with NUL",
                             (sec.orig_offset or 0) + len(data) - 1)
        table = StringTable(data)
        sec._view = table
        return table

    @property
    def symtab_section(self) -> Section:
        """The one SHT_SYMTAB (the module loader requires exactly one)."""
        found = self.sections_of_type(SHT.SYMTAB)
        if not found:
            raise self.error("no symbol table (stripped?)")
        if len(found) > 1:
            raise self.error(f"{len(found)} symbol tables; expected one")
        return found[0]

    @property
    def symtab(self) -> SymbolTable:
        return self.symbols(self.symtab_section)

    def symbols(self, sec: Section) -> SymbolTable:
        view = self._view(sec, SymbolTable, (SHT.SYMTAB, SHT.DYNSYM), "a symbol table")
        if view is not None:
            return view
        codec = self.codecs.Sym
        raw = self._entries(sec, codec.size)
        rows: list[SymRow] = codec.unpack(raw)
        if rows and any(rows[0]):  # gABI: entry 0 is STN_UNDEF, all zero
            raise self.error(f"{sec.label}: symbol 0 is not the null symbol", sec.orig_offset)
        strtab = self.strings(self._linked(sec, (SHT.STRTAB,), "a string table"))
        xindex = None
        for shndx_sec in self.sections_of_type(SHT.SYMTAB_SHNDX):
            if shndx_sec.sh_link == sec.index:  # the reader allows one at most
                xindex = self._words(shndx_sec).words
                if len(xindex) != len(rows):
                    raise self.error(
                        f"{shndx_sec.name}: {len(xindex)} entries for {len(rows)} symbols"
                    )
        nsec = len(self.sections)
        shndx_column = codec.column(raw, "st_shndx")
        limit = min(nsec, SHN.LORESERVE)  # below it, an index is a section's
        # one pass over the distinct values; the per-symbol walk only when one needs it
        # (every vmlinux has SHN_ABS symbols, which need none)
        suspect = any(v >= limit and (v == SHN.XINDEX or v < SHN.LORESERVE)
                      for v in set(shndx_column))
        checked = shndx_column if suspect else ()
        for i, shndx in enumerate(checked):
            if shndx < limit:
                continue
            where = (sec.orig_offset or 0) + i * codec.size
            if shndx == SHN.XINDEX:
                if xindex is None:  # gABI: the real index is in SHT_SYMTAB_SHNDX
                    raise self.error(f"{sec.name}: symbol {i} has st_shndx SHN_XINDEX but "
                                     "there is no SHT_SYMTAB_SHNDX section", where)
                shndx = xindex[i]
            elif shndx >= SHN.LORESERVE:
                continue
            if shndx >= nsec:
                raise self.error(
                    f"{sec.name}: symbol {i} has section index {shndx} out of range", where)
        table = SymbolTable(codec, rows, strtab, xindex)
        sec._view = table
        return table

    def rela(self, sec: Section) -> RelaTable:
        view = self._view(sec, RelaTable, (SHT.RELA,), "a RELA section")
        if view is None:
            view = self._rela_table(sec, self._entries(sec, self.codecs.Rela.size), 0)
            sec._view = view
        return view

    def rela_chunks(self, sec: Section, rows: int = 1 << 16) -> Iterator[RelaTable]:
        """The relocations of ``sec`` as tables of at most ``rows`` entries (0: one
        table), each decoded and checked as it is reached and not kept: a listing of a
        vmlinux's ten million relocations streams in bounded memory. A section decoded
        already comes as its one (maybe edited) table."""
        view = self._view(sec, RelaTable, (SHT.RELA,), "a RELA section")
        if view is not None:
            yield view
            return
        codec = self.codecs.Rela
        raw = self._entries(sec, codec.size)
        step = rows * codec.size or len(raw) or 1
        for start in range(0, len(raw) or 1, step):
            table = self._rela_table(sec, raw[start : start + step], start)
            yield table
            if isinstance(self.contents, mmap.mmap) and sec.orig_offset is not None:
                # these pages are read: drop them from this process (the page cache
                # keeps them), or a pass over a vmlinux's relocations holds 300 MB
                begin = (sec.orig_offset + start) // mmap.PAGESIZE * mmap.PAGESIZE
                self.contents.madvise(mmap.MADV_DONTNEED, begin,
                                      sec.orig_offset + start + len(table) * codec.size - begin)

    def _rela_table(self, sec: Section, raw: bytes | memoryview, start: int) -> RelaTable:
        """The relocations ``raw`` (at byte ``start`` of ``sec``), decoded and checked."""
        table = RelaTable.decode(self.codecs.Rela, raw)
        if len(table):
            symtab = self._linked(sec, (SHT.SYMTAB, SHT.DYNSYM), "a symbol table")
            self._check_rela_symbols(sec, table, start, len(self.symbols(symtab)))
        return table

    def _check_rela_symbols(self, sec: Section, table: RelaTable, start: int,
                            nsyms: int) -> None:
        """Every relocation of ``table`` (at byte ``start`` of ``sec``) names a symbol
        of its table."""
        infos = table.infos
        worst = max(infos) >> 32
        if worst >= nsyms:
            bad = next(i for i, info in enumerate(infos) if info >> 32 >= nsyms)
            raise self.error(
                f"{sec.name}: relocation {start // table.codec.size + bad} uses symbol "
                f"{worst}, but the symbol table has {nsyms}",
                (sec.orig_offset or 0) + start + bad * table.codec.size,
            )

    def _words(self, sec: Section) -> WordTable:
        """An SHT_GROUP or SHT_SYMTAB_SHNDX section's words (a group's checked)."""
        view = self._view(sec, WordTable, (SHT.GROUP, SHT.SYMTAB_SHNDX),
                          "a group or SHT_SYMTAB_SHNDX section")
        if view is not None:
            return view
        codec = self.codecs.Word
        words = [w for (w,) in codec.unpack(self._entries(sec, codec.size))]
        if sec.sh_type == SHT.GROUP:
            self._check_group(sec, words)
        table = WordTable(codec, words)
        sec._view = table
        return table

    def _check_group(self, sec: Section, words: list[int]) -> None:
        """gABI: a flag word, then member section indices; sh_link is the symbol table
        and sh_info the signature symbol."""
        label = sec.label
        if not words:
            raise self.error(f"{label}: a group without its flag word", sec.orig_offset)
        symbols = self.symbols(self._linked(sec, (SHT.SYMTAB,), "a symbol table"))
        if sec.sh_info >= len(symbols):
            raise self.error(f"{label}: signature symbol {sec.sh_info} is out of range "
                             f"({len(symbols)} symbols)")
        for i, member in enumerate(words[1:], 1):
            if not 0 < member < len(self.sections) or member == sec.index:
                what = "the group itself" if member == sec.index else "out of range"
                raise self.error(f"{label}: member {member} is {what}",
                                 (sec.orig_offset or 0) + 4 * i)

    def group_members(self, sec: Section) -> list[int]:
        """The member section indices of an SHT_GROUP (after its flag word)."""
        if sec.sh_type != SHT.GROUP:  # a .symtab_shndx has words too, but no members
            raise self.error(f"{sec.label} is not a group")
        return self._words(sec).words[1:]

    def rela_of(self, sec: Section) -> Section | None:
        """The RELA section that applies to ``sec`` (the inverse of :meth:`rela_target`)."""
        return next((r for r in self.sections_of_type(SHT.RELA) if r.sh_info == sec.index),
                    None)

    def bytes_at(self, address: int, size: int) -> bytes | memoryview | None:
        """The ``size`` bytes a linked image has at link-time ``address``, when one
        section with contents holds them all (None otherwise)."""
        for sec in self.sections:
            if sec.has_contents and sec.sh_addr and sec.sh_addr <= address \
                    and address + size <= sec.sh_addr + sec.sh_size:
                start = address - sec.sh_addr
                return sec.raw()[start : start + size]
        return None

    def rela_target(self, sec: Section) -> Section | None:
        """The section a RELA section applies to (sh_info), if it is in range."""
        if 0 < sec.sh_info < len(self.sections):
            return self.sections[sec.sh_info]
        return None

    def decode_all(self) -> None:
        """Decode every table, so that writing re-encodes all of them (tests use this)."""
        for sec in list(self.sections):
            if sec.sh_type in (SHT.SYMTAB, SHT.DYNSYM):
                self.symbols(sec)
            elif sec.sh_type == SHT.RELA:
                self.rela(sec)
            elif sec.sh_type in (SHT.GROUP, SHT.SYMTAB_SHNDX):
                self._words(sec)
            elif sec.sh_type == SHT.STRTAB:
                self.strings(sec)

    # -- editing ----------------------------------------------------------------------

    def rename_section(self, sec: Section, name: str) -> None:
        sec.sh_name = self.strings(self.shstrtab_section).add(name)
        sec.name = name
        self.modified = True

    def add_section(
        self,
        name: str,
        sh_type: int,
        *,
        flags: int = 0,
        data: bytes = b"",
        link: int = 0,
        info: int = 0,
        addralign: int = 1,
        entsize: int = 0,
    ) -> Section:
        """Append a new section (written at the end of the file)."""
        sh_name = self.strings(self.shstrtab_section).add(name)
        header = (sh_name, sh_type, flags, 0, 0, len(data), link, info, addralign, entsize)
        sec = Section(self, len(self.sections), header, name)
        sec.orig_offset = None
        sec.orig_size = 0
        sec._raw = bytes(data)
        self.sections.append(sec)
        self.modified = True
        return sec

    def add_rela_section(self, name: str, target: Section, *, flags: int = 0) -> Section:
        """A new, empty RELA section for ``target``, linked to the symbol table."""
        sec = self.add_section(
            name,
            SHT.RELA,
            flags=flags | SHF.INFO_LINK,
            link=self.symtab_section.index,
            info=target.index,
            addralign=8,
            entsize=self.codecs.Rela.size,
        )
        sec._view = RelaTable(self.codecs.Rela, [])
        return sec

    def remove_sections(self, doomed: Iterable[Section]) -> None:
        """Remove sections and renumber every reference to the ones that stay.

        Section symbols of removed sections go with them. Other symbols defined in
        a removed section, relocation sections for it and links to it must be
        removed first (or together); otherwise this refuses, with an ElfError (what
        refers to what is the input's doing), before changing anything.
        """
        gone = {s.index for s in doomed}
        if not gone:
            return
        for index in sorted(gone & {0, self.shstrndx}):
            what = "the null section" if index == 0 else "the section name table"
            raise self.error(f"{self.sections[index].label} is {what} and cannot be removed")
        for sec in self.sections:
            if sec.index in gone:
                continue
            if sec.sh_link in gone:
                raise self.error(f"{sec.label} links to "
                                 f"{self.sections[sec.sh_link].label}, which is being removed")
            if self._info_is_section(sec) and sec.sh_info in gone:
                raise self.error(f"{sec.label} applies to "
                                 f"{self.sections[sec.sh_info].label}, which is being removed")
            if sec.sh_type == SHT.GROUP:
                self.group_members(sec)  # checked now, renumbered below
        section_symbols = self._symbols_in(gone)
        if section_symbols:
            self._remove_symbols(section_symbols, skip=gone)
        new_index: dict[int, int] = {}
        for sec in self.sections:
            if sec.index not in gone:
                new_index[sec.index] = len(new_index)
        kept = [s for s in self.sections if s.index not in gone]
        for sec in kept:
            sec.sh_link = new_index.get(sec.sh_link, sec.sh_link)
            if self._info_is_section(sec):
                sec.sh_info = new_index.get(sec.sh_info, sec.sh_info)
            if sec.sh_type == SHT.GROUP:
                words = self._words(sec).words
                words[1:] = [new_index[m] for m in words[1:] if m not in gone]
        for sec in kept:
            if sec.sh_type not in (SHT.SYMTAB, SHT.DYNSYM):
                continue
            table = self.symbols(sec)
            for i in range(len(table)):
                shndx = table.section_of(i)
                if shndx is not None and new_index[shndx] != shndx:
                    self._set_symbol_shndx(table, i, new_index[shndx])
        self.sections = kept
        for sec in self.sections:
            sec.index = new_index[sec.index]
        self.modified = True

    @staticmethod
    def _info_is_section(sec: Section) -> bool:
        """Whether sh_info is a section index (gABI: relocations, SHF_INFO_LINK);
        a symbol table's and a group's sh_info is a symbol index."""
        if sec.sh_type in (SHT.SYMTAB, SHT.DYNSYM, SHT.GROUP):
            return False
        return sec.sh_type in (SHT.RELA, SHT.REL) or bool(sec.sh_flags & SHF.INFO_LINK)

    def _symbols_in(self, gone: set[int]) -> list[int]:
        """The .symtab section symbols of sections being removed; an ElfError for any
        other symbol defined in one of them."""
        found = []
        for sec in self.sections:
            if sec.sh_type not in (SHT.SYMTAB, SHT.DYNSYM) or sec.index in gone:
                continue
            table = self.symbols(sec)
            for i in range(1, len(table)):
                shndx = table.section_of(i)
                if shndx is None or shndx not in gone:
                    continue
                if sec.sh_type == SHT.SYMTAB and table.rows[i][1] & 0xF == STT.SECTION:
                    found.append(i)
                    continue
                raise self.error(f"symbol {table.name(i)!r} ({i} in {sec.name}) is defined in "
                                 f"{self.sections[shndx].label}, which is being removed")
        return found

    def _set_symbol_shndx(self, table: SymbolTable, i: int, shndx: int) -> None:
        row = table.rows[i]
        if table.xindex is not None and (row[3] == SHN.XINDEX or shndx >= SHN.LORESERVE):
            table.xindex[i] = shndx
            if row[3] != SHN.XINDEX:
                table.rows[i] = (row[0], row[1], row[2], SHN.XINDEX, row[4], row[5])
            return
        if shndx >= SHN.LORESERVE:
            raise ValueError(f"section index {shndx} needs a .symtab_shndx section")
        table.rows[i] = (row[0], row[1], row[2], shndx, row[4], row[5])
        if table.xindex is not None:
            table.xindex[i] = 0

    def rename_symbol(self, index: int, name: str) -> None:
        table = self.symtab
        row = table.rows[index]
        table.rows[index] = (table.strtab.add(name), *row[1:])
        self.modified = True

    def set_symbol(self, index: int, **fields: int) -> None:
        """Change raw fields of a symbol: st_info, st_other, st_shndx, st_value, st_size."""
        table = self.symtab
        order = ("st_name", "st_info", "st_other", "st_shndx", "st_value", "st_size")
        row = list(table.rows[index])
        for key, value in fields.items():
            row[order.index(key)] = value
        table.rows[index] = tuple(row)  # type: ignore[assignment]
        if table.xindex is not None and "st_shndx" in fields and row[3] != SHN.XINDEX:
            table.xindex[index] = 0
        self.modified = True

    def add_symbol(
        self,
        name: str,
        *,
        info: int,
        shndx: int,
        value: int = 0,
        size: int = 0,
        other: int = 0,
    ) -> int:
        """Add a symbol to .symtab and return its index.

        A global goes at the end; a local goes after the last local, and every later
        symbol index (relocations, group signatures, sh_info) is renumbered. In a
        file with extended numbering, a real section index >= SHN_LORESERVE (other
        than SHN_ABS/COMMON/LIVEPATCH) goes through .symtab_shndx.
        """
        sec = self.symtab_section
        table = self.symbols(sec)
        extended = 0
        if table.xindex is not None and shndx >= SHN.LORESERVE and shndx not in (
            SHN.ABS, SHN.COMMON, SHN.LIVEPATCH, SHN.XINDEX
        ):
            extended, shndx = shndx, SHN.XINDEX
        elif shndx > 0xFFFF:
            raise ValueError(f"section index {shndx} needs a .symtab_shndx section")
        row: SymRow = (table.strtab.add(name), info, other, shndx, value, size)
        self.modified = True
        if info >> 4 != STB.LOCAL:
            table.rows.append(row)
            if table.xindex is not None:
                table.xindex.append(extended)
            return len(table.rows) - 1
        at = sec.sh_info if 0 < sec.sh_info <= len(table.rows) else table.first_nonlocal()
        mapping = list(range(len(table.rows)))
        for i in range(at, len(mapping)):
            mapping[i] = i + 1
        self._renumber_symbols(sec, mapping)
        table.rows.insert(at, row)
        if table.xindex is not None:
            table.xindex.insert(at, extended)
        sec.sh_info = at + 1
        return at

    def remove_symbols(self, doomed: Iterable[int]) -> None:
        """Remove symbols from .symtab; no remaining relocation may use them."""
        self._remove_symbols(doomed, skip=set())

    def _remove_symbols(self, doomed: Iterable[int], skip: set[int]) -> None:
        gone = set(doomed)
        if not gone:
            return
        if 0 in gone:
            raise ValueError("cannot remove the null symbol")
        sec = self.symtab_section
        table = self.symbols(sec)
        mapping: list[int] = []
        kept = 0
        for i in range(len(table.rows)):
            mapping.append(-1 if i in gone else kept)
            kept += i not in gone
        self._renumber_symbols(sec, mapping, skip)
        locals_before = sum(1 for i in range(min(sec.sh_info, len(table.rows))) if i not in gone)
        table.rows = [r for i, r in enumerate(table.rows) if i not in gone]
        if table.xindex is not None:
            table.xindex[:] = [x for i, x in enumerate(table.xindex) if i not in gone]
        sec.sh_info = locals_before
        self.modified = True

    def _renumber_symbols(
        self, symtab: Section, mapping: list[int], skip: set[int] | None = None
    ) -> None:
        """Apply an old→new symbol index map (-1: removed) to every user of ``symtab``.

        Every user is checked before any is changed, so a refusal changes nothing.
        """
        users = [s for s in self.sections
                 if s.sh_link == symtab.index and s.sh_type in (SHT.RELA, SHT.REL, SHT.GROUP)
                 and not (skip and s.index in skip)]
        for sec in users:
            label = sec.label
            if sec.sh_type == SHT.REL:
                if sec.sh_size:
                    raise self.error(f"{label}: SHT_REL relocations use {symtab.name}, and "
                                     "klp renumbers RELA relocations only")
            elif sec.sh_type == SHT.RELA:
                symbols = self.rela(sec).symbols()
                bad = [s for s in set(symbols) if s >= len(mapping) or mapping[s] < 0]
                if bad:
                    i, sym = next((i, s) for i, s in enumerate(symbols) if s in bad)
                    state = "is being removed" if sym < len(mapping) else "is out of range"
                    raise self.error(f"{label}: relocation {i} uses symbol {sym}, which "
                                     f"{state}")
            else:
                self.group_members(sec)  # checks the signature index
                if mapping[sec.sh_info] < 0:
                    raise self.error(f"{label}: its signature symbol {sec.sh_info} is being "
                                     "removed")
        for sec in users:
            if sec.sh_type == SHT.RELA:
                table = self.rela(sec)
                if all(mapping[s] == s for s in set(table.symbols())):
                    continue  # keep the columns: no row tuples for an unchanged table
                rows = table.rows
                for i, (off, info, addend) in enumerate(rows):
                    new = mapping[info >> 32]  # r_sym, inline: this runs per relocation
                    if new != info >> 32:
                        rows[i] = (off, r_info(new, r_type(info)), addend)
            elif sec.sh_type == SHT.GROUP:
                sec.sh_info = mapping[sec.sh_info]

    def move_relocations(self, src: Section, moves: Mapping[Section, Iterable[int]]) -> None:
        """Move relocation rows (indices into ``src``) to the end of other RELA sections.

        All moves out of one section happen together, so the indices all refer to
        ``src`` as it was; each destination receives its rows in their original order.
        """
        source = self.rela(src)
        taken: set[int] = set()
        for dst, rows in moves.items():
            picked = sorted(set(rows) - taken)
            self.rela(dst).rows.extend(source.rows[i] for i in picked)
            taken.update(picked)
        source.rows = [r for i, r in enumerate(source.rows) if i not in taken]
        self.modified = True

    def set_relocation_symbol(self, rela: Section, row: int, symbol: int) -> None:
        """Point relocation ``row`` of ``rela`` at another symbol of its table."""
        table = self.rela(rela)
        if not 0 <= symbol < len(self.symbols(self.section(rela.sh_link))):
            raise ValueError(f"{rela.name}: no symbol {symbol}")
        offset, info, addend = table.rows[row]
        table.rows[row] = (offset, r_info(symbol, r_type(info)), addend)
        self.modified = True

    def remove_relocations(self, rela: Section, rows: Iterable[int]) -> None:
        """Drop relocation rows (indices into ``rela`` as it is)."""
        table = self.rela(rela)
        doomed = set(rows)
        if doomed:
            table.rows = [r for i, r in enumerate(table.rows) if i not in doomed]
            self.modified = True

    # -- writing -------------------------------------------------------------------------

    def write(self, path: StrPath) -> None:
        """Write atomically to ``path``; see :mod:`klp.elfcodec.writer`."""
        write_atomic(self, os.fspath(path))

    def to_bytes(self) -> bytes:
        return encode(self)

    def read_back(self, path: StrPath) -> tuple[bytes, ElfFile]:
        """What :meth:`write` would write to ``path``, and it decoded again in full."""
        return read_back(self, os.fspath(path))
