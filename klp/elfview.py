"""``klp elf``: the sections, symbols and relocations of an ELF file, as users see them.

A listing comes as blocks of columns (:class:`klp.render.Block`) taken from the
codec's bulk accessors, so that a vmlinux's thirteen million relocations stream out
without ever being thirteen million dicts. Text columns hold keys (a symbol index, a
type number) into :class:`klp.render.Texts`, which names each key once.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property, partial

from klp.elfcodec import describe
from klp.elfcodec.constants import SHT, STT, st_bind, st_type
from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.symbols import SymbolTable
from klp.render import Block, Keyed, Texts

#: The columns of each view's table, in table order (its JSON rows have these and more).
COLUMNS = {
    "sections": ("index", "name", "type", "address", "offset", "size", "entsize", "flags",
                 "link", "info", "align"),
    "symbols": ("index", "value", "size", "type", "bind", "visibility", "section", "name"),
    "relocs": ("section", "offset", "type", "symbol", "addend"),
}
#: The columns shown in hex.
HEX_COLUMNS = frozenset({"address", "offset", "value"})

#: Relocations per block: a few MB of columns at a time.
_CHUNK = 1 << 16


def symbol_label(elf: ElfFile, table: SymbolTable, index: int) -> str:
    """A symbol's name, or its section's name for an unnamed section symbol (as readelf)."""
    name = table.name(index)
    if not name and index and table.type(index) == STT.SECTION:
        shndx = table.shndx(index)
        if 0 < shndx < len(elf.sections):
            return elf.sections[shndx].name
    return name


def symbol_labels(elf: ElfFile, table: SymbolTable) -> list[str]:
    """:func:`symbol_label` of every symbol, in table order (the bulk path)."""
    labels = table.names()
    for index, name in enumerate(labels):
        if not name and index:
            labels[index] = symbol_label(elf, table, index)
    return labels


class Listing:
    """One view (``sections``, ``symbols`` or ``relocs``) of ``elf``: :meth:`blocks`
    makes its rows afresh for each pass over them (a plain table measures its columns
    first), while the texts, and the one block of the small views, are kept."""

    def __init__(self, elf: ElfFile, view: str) -> None:
        self.elf = elf
        self.view = view
        self._label_texts: dict[int, Texts] = {}

    def check(self) -> None:
        """Decode all of it once, so that a file the codec refuses fails before any
        output: JSON streams out and cannot take back what it wrote."""
        for _ in self.blocks():
            pass

    def blocks(self) -> Iterator[Block]:
        if self.view == "sections":
            yield self._sections
        elif self.view == "symbols":
            yield self._symbols
        else:
            yield from self._relocs()

    @cached_property
    def _section_names(self) -> Texts:
        sections = self.elf.sections
        return Texts(lambda index: sections[index].name)

    @cached_property
    def _sections(self) -> Block:
        sections = self.elf.sections
        indices = range(len(sections))
        types = [s.sh_type for s in sections]
        flags = [s.sh_flags for s in sections]
        return Block(len(sections), {
            "index": indices,
            "name": Keyed(self._section_names, indices),
            "type": Keyed(Texts(describe.section_type), types),
            "address": [s.sh_addr for s in sections],
            "offset": [s.sh_offset for s in sections],
            "size": [s.sh_size for s in sections],
            "entsize": [s.sh_entsize for s in sections],
            "flags": Keyed(Texts(describe.section_flags), flags),
            "flag_names": Keyed(Texts(describe.section_flag_names), flags),
            "link": [s.sh_link for s in sections],
            "info": [s.sh_info for s in sections],
            "align": [s.sh_addralign for s in sections],
        })

    @cached_property
    def _symbols(self) -> Block:
        table = self.elf.symtab
        infos, others, values, sizes = table.columns("st_info", "st_other", "st_value",
                                                     "st_size")
        indices = range(len(table))
        return Block(len(table), {
            "index": indices,
            "name": Keyed(Texts(partial(symbol_label, self.elf, table),
                                symbol_labels(self.elf, table)), indices),
            "value": values,
            "size": sizes,
            "type": Keyed(Texts(lambda info: describe.symbol_type(st_type(info))), infos),
            "bind": Keyed(Texts(lambda info: describe.symbol_bind(st_bind(info))), infos),
            "visibility": Keyed(Texts(describe.symbol_visibility), others),
            "other": others,
            "section": Keyed(Texts(describe.section_index), table.section_indices()),
        })

    def _relocs(self) -> Iterator[Block]:
        elf = self.elf
        for sec in elf.sections_of_type(SHT.RELA):
            labels = self._labels(sec.sh_link)
            for table in elf.rela_chunks(sec, _CHUNK):
                types, symbols = table.types(), table.symbols()
                yield Block(len(table), {
                    "section": Keyed(self._section_names, [sec.index] * len(table)),
                    "offset": table.offsets,
                    "type": Keyed(self._reloc_types, types),
                    "type_number": types,
                    "symbol_index": symbols,
                    "symbol": Keyed(labels, symbols),
                    "addend": table.addends,
                })

    @cached_property
    def _reloc_types(self) -> Texts:
        return Texts(self.elf.arch.reloc_name)

    def _labels(self, symtab: int) -> Texts:
        """The symbol labels of the table at section ``symtab``, made once per listing
        (every RELA section of a module or vmlinux links the one .symtab)."""
        made = self._label_texts.get(symtab)
        if made is None:
            elf = self.elf
            table = elf.symbols(elf.section(symtab))
            made = self._label_texts[symtab] = Texts(
                lambda index: symbol_label(elf, table, index) if index else "")
        return made
