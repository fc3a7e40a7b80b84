"""Where in the source a place of a linked module comes from: its file, function, line.

A livepatch module is several objects linked with ``ld -r``. The link keeps
each input's local symbols after that input's STT_FILE symbol, and lays the
inputs' pieces of an output section one after the other, in link order. The
evidence, most direct first:

1. a local symbol that covers the place (a static function or object);
2. the DWARF compile unit whose address range covers it (modules built with
   ``-g``), matched to the STT_FILE symbol of the same base name;
3. on arm64, the mapping symbol (``$x``/``$d``) at or before it: the assembler
   starts every piece of every section with one;
4. local symbols of one file on both sides of it;
5. for a place no symbol covers (a ppc64 ``.toc`` entry), the file of the code
   that refers to it through a section symbol.

Anything else is unknown: the converter then says so rather than guess.
"""

from __future__ import annotations

import bisect
import posixpath
from collections import defaultdict
from typing import NamedTuple

from klp.elfcodec.constants import EM, SHT, STT
from klp.elfcodec.dwarf import LineRow, line_rows, unit_ranges
from klp.elfcodec.elffile import ElfFile
from klp.livepatch.rules import loaded_target


class SourceFile(NamedTuple):
    symbol: int  #: its STT_FILE symbol's index, which is also its place in link order
    name: str


#: (start, end, file) of a symbol or range, sorted by start.
_Spans = list[tuple[int, int, SourceFile]]


class SourceMap:
    """Answers :meth:`file_of`; each kind of evidence is indexed on first use."""

    def __init__(self, elf: ElfFile) -> None:
        self._elf = elf
        self._files: list[SourceFile] = []
        self._symbols: dict[int, _Spans] | None = None
        self._mapping: dict[int, _Spans] = {}
        self._units: dict[int, _Spans] | None = None
        self._referrers: dict[tuple[int, int], list[tuple[int, int]]] | None = None
        self._functions: dict[int, list[tuple[int, int, str]]] | None = None
        self._lines: dict[int, list[LineRow]] | None = None

    def file_of(self, shndx: int, offset: int) -> SourceFile | None:
        return self._direct(shndx, offset) or self._by_referrers(shndx, offset)

    def function_at(self, shndx: int, offset: int) -> str | None:
        """``name+0xoff`` of the function or object that covers a place."""
        if self._functions is None:
            table = self._elf.symtab
            spans: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
            for sym in table:
                shndx_of = table.section_of(sym.index)
                if sym.size and sym.type in (STT.FUNC, STT.OBJECT) and shndx_of is not None:
                    spans[shndx_of].append((sym.value, sym.value + sym.size, sym.name))
            self._functions = {k: sorted(v) for k, v in spans.items()}
        for start, end, name in self._functions.get(shndx, ()):
            if start <= offset < end:
                return f"{name}+{offset - start:#x}"
        return None

    def line_at(self, shndx: int, offset: int) -> str | None:
        """``file:line`` of a place, from the DWARF line table (modules built with -g)."""
        if self._lines is None:
            self._lines = line_rows(self._elf)
        rows = self._lines.get(shndx, [])
        at = bisect.bisect_right(rows, offset, key=lambda r: r.start) - 1
        if at < 0 or not rows[at].line:
            return None
        return f"{rows[at].file}:{rows[at].line}"

    def _direct(self, shndx: int, offset: int) -> SourceFile | None:
        """The file from evidence about the place itself (1-4 above)."""
        return (self._by_covering_symbol(shndx, offset)
                or self._by_debug_info(shndx, offset)
                or self._by_mapping_symbol(shndx, offset)
                or self._by_neighbours(shndx, offset))

    # -- symbols -----------------------------------------------------------------------

    def _local_symbols(self) -> dict[int, _Spans]:
        if self._symbols is None:
            table = self._elf.symtab
            mapping_symbols = self._elf.e_machine == EM.AARCH64
            spans: dict[int, _Spans] = defaultdict(list)
            mapping: dict[int, _Spans] = defaultdict(list)
            files: dict[int, SourceFile] = {}
            for sym, file in zip(table, table.file_symbols(range(len(table))), strict=True):
                if sym.type == STT.FILE:
                    files[sym.index] = SourceFile(sym.index, sym.name)
                    self._files.append(files[sym.index])
                    continue
                shndx = table.section_of(sym.index)
                if file is None or sym.type == STT.SECTION or shndx is None:
                    continue
                spans[shndx].append((sym.value, sym.value + sym.size, files[file]))
                if mapping_symbols and _is_mapping_symbol(sym.name):
                    mapping[shndx].append((sym.value, sym.value, files[file]))
            self._symbols = {k: sorted(v) for k, v in spans.items()}
            self._mapping = {k: sorted(v) for k, v in mapping.items()}
        return self._symbols

    def _by_covering_symbol(self, shndx: int, offset: int) -> SourceFile | None:
        return _only({f for start, end, f in self._local_symbols().get(shndx, ())
                      if start <= offset < end})

    def _by_mapping_symbol(self, shndx: int, offset: int) -> SourceFile | None:
        self._local_symbols()
        before, _ = _around(self._mapping.get(shndx, []), offset)
        return _only(before)

    def _by_neighbours(self, shndx: int, offset: int) -> SourceFile | None:
        before, after = _around(self._local_symbols().get(shndx, []), offset)
        if len(before) > 1 or len(after) > 1:
            return None
        if before and after:
            return before.pop() if before == after else None
        if not before and not after:
            return None
        # Past the last symbol (or before the first): only the last (first) file in
        # link order cannot be followed (preceded) by another file's piece.
        edge = self._files[-1] if before else self._files[0]
        only = (before or after).pop()
        return only if only == edge else None

    # -- debug info --------------------------------------------------------------------

    def _by_debug_info(self, shndx: int, offset: int) -> SourceFile | None:
        if self._units is None:
            self._local_symbols()
            by_name: dict[str, list[SourceFile]] = defaultdict(list)
            for f in self._files:
                by_name[f.name].append(f)
            units: dict[int, _Spans] = defaultdict(list)
            for unit in unit_ranges(self._elf):
                files = by_name.get(posixpath.basename(unit.name), [])
                if len(files) == 1:
                    units[unit.shndx].append((unit.start, unit.end, files[0]))
            self._units = dict(units)
        return _only({f for start, end, f in self._units.get(shndx, ())
                      if start <= offset < end})

    # -- references through section symbols ------------------------------------------

    def _by_referrers(self, shndx: int, offset: int) -> SourceFile | None:
        """Only the referrers of the asked place are attributed, not every relocation."""
        if self._referrers is None:
            self._referrers = self._collect_referrers()
        return _only({f for place in self._referrers.get((shndx, offset), ())
                      if (f := self._direct(*place)) is not None})

    def _collect_referrers(self) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """(section, offset) a section-symbol relocation points at -> where it sits."""
        elf = self._elf
        table = elf.symtab
        section_symbols = {i: table.shndx(i) for i in range(len(table))
                           if table.type(i) == STT.SECTION}
        found: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        for sec in elf.sections_of_type(SHT.RELA):
            target = loaded_target(elf, sec)
            if target is None:
                continue
            for rel in elf.rela(sec):
                place = section_symbols.get(rel.sym)
                if place is not None:
                    found[(place, rel.addend)].append((target.index, rel.offset))
        return dict(found)


def _is_mapping_symbol(name: str) -> bool:
    return name in ("$x", "$d") or name.startswith(("$x.", "$d."))


def _around(spans: _Spans, offset: int) -> tuple[set[SourceFile], set[SourceFile]]:
    """Files of the nearest spans starting at or before ``offset``, and after it."""
    at = bisect.bisect_right(spans, offset, key=lambda s: s[0])
    before = {f for start, _, f in spans[:at] if start == spans[at - 1][0]} if at else set()
    after = {f for start, _, f in spans[at:] if start == spans[at][0]} \
        if at < len(spans) else set()
    return before, after


def _only(files: set[SourceFile]) -> SourceFile | None:
    return next(iter(files)) if len(files) == 1 else None
