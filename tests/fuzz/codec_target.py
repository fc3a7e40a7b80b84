"""Fuzz target: the ELF codec, from reading to editing, writing and reading back.

Besides "no traceback", two promises are checked on every input the reader
accepts: an unmodified file encodes back byte for byte, and an edited file
reads back as the model that was written.
"""

from __future__ import annotations

import io
from pathlib import Path

from klp import elfview, render
from klp.elfcodec.constants import SHF, SHT, STB, STT, st_info
from klp.elfcodec.dwarf import (
    declarations,
    inlined_copies,
    line_rows,
    signatures,
    struct_layouts,
    unit_ranges,
)
from klp.elfcodec.elffile import ElfFile, Section
from tests.fuzz import elfmutate as m
from tests.fuzz.engine import Target
from tests.support.dwarf import function_places
from tests.support.paths import TESTDATA, fixture_objects


def seeds() -> list[bytes]:
    paths = [*fixture_objects(), *sorted((TESTDATA / "group").glob("*.o"))]
    return [p.read_bytes() for p in paths]


def run(data: bytes, scratch: Path) -> None:
    source = scratch / "fuzzed.o"
    source.write_bytes(data)
    elf = ElfFile.open(source)
    elf.decode_all()
    if elf.to_bytes() != data:
        raise AssertionError("an unmodified file did not encode back byte for byte")
    for view, columns in elfview.COLUMNS.items():  # what `klp elf` prints
        listing = elfview.Listing(elf, view)
        render.write_plain(io.StringIO(), view, columns, listing.blocks,
                           hex_columns=elfview.HEX_COLUMNS)
        render.write_json(io.StringIO(), {}, view, listing.blocks())
    for group in elf.sections_of_type(SHT.GROUP):
        elf.group_members(group)
    unit_ranges(elf)
    struct_layouts(elf, ["klp_func", "split_funcs"])
    functions = function_places(elf).values()
    inlined_copies(elf, functions)
    signatures(elf, functions)
    declarations(elf)
    line_rows(elf)
    _edit(elf)
    out = scratch / "edited.o"
    elf.write(out)
    _same(elf, ElfFile.open(out))


def _edit(elf: ElfFile) -> None:
    """What the converter does to a module: rename, add symbols, sections and
    relocations, remove a section."""
    table = elf.symtab
    if len(table) > 1:
        elf.rename_symbol(len(table) - 1, "klp_fuzz_renamed")
    new = elf.add_section(".klp.fuzz", SHT.PROGBITS, data=bytes(16), addralign=8)
    local = elf.add_symbol("klp_fuzz_local", info=st_info(STB.LOCAL, STT.OBJECT),
                           shndx=new.index, size=8)
    rela = elf.add_rela_section(".rela.klp.fuzz", new)
    elf.rela(rela).rows.append((0, (local << 32) | elf.arch.abs64, 0))
    victim = _removable(elf)
    if victim is not None:
        elf.remove_sections([victim])


def _removable(elf: ElfFile) -> Section | None:
    """The first section nothing but its own section symbol refers to."""
    table = elf.symtab
    used = {elf.shstrndx, elf.symtab_section.index}
    for sec in elf.sections:
        used.add(sec.sh_link)
        if sec.sh_type in (SHT.RELA, SHT.REL) or sec.sh_flags & SHF.INFO_LINK:
            used.add(sec.sh_info)
        if sec.sh_type == SHT.GROUP:
            used.update(elf.group_members(sec))
    for i in range(1, len(table)):
        if table.rows[i][1] & 0xF != STT.SECTION:
            used.add(table.shndx(i))
    return next((s for s in elf.sections[1:] if s.index not in used), None)


def _same(elf: ElfFile, again: ElfFile) -> None:
    """What was written reads back as the model."""
    again.decode_all()
    if [s.name for s in again.sections] != [s.name for s in elf.sections]:
        raise AssertionError("section names changed on the way through the file")
    if again.symtab.names() != elf.symtab.names():
        raise AssertionError("symbol names changed on the way through the file")
    for ours, theirs in zip(elf.sections, again.sections, strict=True):
        if ours.sh_type == SHT.RELA and elf.rela(ours).rows != again.rela(theirs).rows:
            raise AssertionError(f"{ours.name}: relocations changed on the way through the file")


MUTATE = m.mutator([
    (3, m.ehdr_field),
    (10, m.shdr_field),
    (3, m.shdr_copy),
    (2, m.extended_numbering),
    (8, m.symbol_field),
    (6, m.rela_field),
    (4, m.string_table),
    (3, m.group_member),
    (3, m.section_bytes),
    (3, m.dwarf_form),
    (2, m.line_table_counts),
])

TARGET = Target("codec", seeds, run, MUTATE)
