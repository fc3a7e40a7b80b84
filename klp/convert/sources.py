"""Which source file a place in a linked module comes from.

A livepatch module is several objects linked with ``ld -r``. The link keeps
each input's local symbols after that input's STT_FILE symbol, and places the
inputs' pieces of an output section one after the other, in link order. So a
place belongs to the file of a local symbol that covers it, or to the file of
the local symbols on both sides of it. Places with no local symbol around them
(a ppc64 ``.toc`` entry, a literal) take the file of the code that refers to
them through a section symbol. Anything else is unknown: the converter then
says so rather than guess.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass

from klp.elfcodec.constants import SHF, SHN, SHT, STB, STT
from klp.elfcodec.elffile import ElfFile


@dataclass(frozen=True, slots=True, order=True)
class SourceFile:
    index: int  #: of its STT_FILE symbol, which is also its place in link order
    name: str


class SourceMap:
    """Answers :meth:`file_of`; the index is built on the first question."""

    def __init__(self, elf: ElfFile) -> None:
        self._elf = elf
        self._anchors: dict[int, list[tuple[int, int, SourceFile]]] | None = None
        self._starts: dict[int, list[int]] = {}
        self._files: list[SourceFile] = []
        self._referrers: dict[tuple[int, int], set[SourceFile]] | None = None

    def file_of(self, shndx: int, offset: int) -> SourceFile | None:
        found = self._by_symbols(shndx, offset)
        if found is None:
            found = self._by_referrers(shndx, offset)
        return found

    # -- local symbols ---------------------------------------------------------------

    def _index(self) -> dict[int, list[tuple[int, int, SourceFile]]]:
        if self._anchors is None:
            table = self._elf.symtab
            anchors: dict[int, list[tuple[int, int, SourceFile]]] = defaultdict(list)
            current: SourceFile | None = None
            for i, row in enumerate(table.rows):
                kind, bind = row[1] & 0xF, row[1] >> 4
                if kind == STT.FILE:
                    current = SourceFile(i, table.name(i))
                    self._files.append(current)
                    continue
                shndx = table.shndx(i)
                if (bind != STB.LOCAL or current is None or kind == STT.SECTION
                        or shndx == SHN.UNDEF or SHN.LORESERVE <= shndx <= 0xFFFF):
                    continue
                anchors[shndx].append((row[4], row[5], current))
            for entries in anchors.values():
                entries.sort()
            self._starts = {shndx: [e[0] for e in entries] for shndx, entries in anchors.items()}
            self._anchors = dict(anchors)
        return self._anchors

    def _by_symbols(self, shndx: int, offset: int) -> SourceFile | None:
        entries = self._index().get(shndx)
        if not entries:
            return None
        covering = {f for start, size, f in entries if start <= offset < start + size}
        if covering:
            return covering.pop() if len(covering) == 1 else None
        at = bisect.bisect_right(self._starts[shndx], offset)
        before = {f for start, _, f in entries[:at] if start == entries[at - 1][0]} if at else set()
        after = {f for start, _, f in entries[at:] if start == entries[at][0]} \
            if at < len(entries) else set()
        if len(before) > 1 or len(after) > 1:
            return None
        if before and after:
            return before.pop() if before == after else None
        # Past the last anchor (or before the first): only the last (first) file in
        # link order cannot be followed (preceded) by another file's piece.
        edge = self._files[-1] if before else self._files[0]
        only = (before or after).pop()
        return only if only == edge else None

    # -- references through section symbols ------------------------------------------

    def _by_referrers(self, shndx: int, offset: int) -> SourceFile | None:
        if self._referrers is None:
            self._referrers = self._collect_referrers()
        files = self._referrers.get((shndx, offset), set())
        return next(iter(files)) if len(files) == 1 else None

    def _collect_referrers(self) -> dict[tuple[int, int], set[SourceFile]]:
        elf = self._elf
        table = elf.symtab
        section_symbols = {i: table.shndx(i) for i, row in enumerate(table.rows)
                           if row[1] & 0xF == STT.SECTION}
        found: dict[tuple[int, int], set[SourceFile]] = defaultdict(set)
        for sec in elf.sections_of_type(SHT.RELA):
            target = elf.rela_target(sec)
            if target is None or not target.sh_flags & SHF.ALLOC:
                continue
            for off, info, addend in elf.rela(sec).rows:
                place = section_symbols.get(info >> 32)
                if place is None:
                    continue
                source = self._by_symbols(target.index, off)
                if source is not None:
                    found[(place, addend)].add(source)
        return dict(found)
