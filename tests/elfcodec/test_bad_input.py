"""Malformed input raises ElfError naming file, offset and reason; nothing else escapes."""

from __future__ import annotations

import contextlib
import pathlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klp.elfcodec.constants import SHN, SHT
from klp.elfcodec.elffile import ElfFile, Section
from klp.elfview import Listing
from klp.errors import ElfError
from tests.support.paths import TESTDATA, fixture_objects

SAMPLE = next(p for p in fixture_objects() if p.suffix == ".o")
DATA = SAMPLE.read_bytes()


def exercise(elf: ElfFile) -> None:
    """Everything a reader of the file might touch."""
    elf.decode_all()
    for sec in elf.sections_of_type(SHT.SYMTAB):
        table = elf.symbols(sec)
        for i in range(len(table)):
            table.symbol(i)
    elf.to_bytes()


def load(data: bytes) -> None:
    exercise(ElfFile.from_bytes(data, "bad.o"))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "bad magic"),
        (b"MZ\x90\0" + bytes(60), "bad magic"),
        (b"\x7fELF\x01\x01\x01" + bytes(57), "ELF class 1"),
        (b"\x7fELF\x02\x03\x01" + bytes(57), "bad data encoding"),
        (DATA[:40], "truncated ELF header"),
        (DATA[:-200], "outside the file"),
    ],
)
def test_clear_errors(data: bytes, reason: str) -> None:
    with pytest.raises(ElfError, match=reason) as err:
        load(data)
    assert "bad.o" in str(err.value)


def test_unsupported_machine() -> None:
    data = bytearray(DATA)
    struct.pack_into("<H" if data[5] == 1 else ">H", data, 18, 8)  # EM_MIPS
    with pytest.raises(ElfError, match="unsupported machine"):
        load(bytes(data))


def _patch_shdr(data: bytes, index: int, field_offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    order = "<" if out[5] == 1 else ">"
    shoff = struct.unpack_from(order + "Q", out, 0x28)[0]
    struct.pack_into(order + fmt, out, shoff + index * 64 + field_offset, value)
    return bytes(out)


def _index_of(sh_type: int) -> int:
    return next(s.index for s in ElfFile.from_bytes(DATA).sections if s.sh_type == sh_type)


def test_bad_string_offset() -> None:
    data = _patch_shdr(DATA, 1, 0, "L", 0xFFFFFF)
    with pytest.raises(ElfError, match="name offset"):
        load(data)


def test_link_cycle_is_refused() -> None:
    symtab = _index_of(SHT.SYMTAB)
    data = _patch_shdr(DATA, symtab, 40, "L", symtab)  # .symtab sh_link -> itself
    with pytest.raises(ElfError, match="not a string table"):
        load(data)


def test_symbol_index_out_of_range() -> None:
    elf = ElfFile.from_bytes(DATA)
    rela = next(s for s in elf.sections_of_type(SHT.RELA) if s.sh_size)
    out = bytearray(DATA)
    order = "<" if out[5] == 1 else ">"
    struct.pack_into(order + "L", out, rela.sh_offset + (12 if order == "<" else 8), 0xFFFF)
    with pytest.raises(ElfError, match="uses symbol"):
        load(bytes(out))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(DATA) - 1), st.integers(0, 255), st.integers(0, len(DATA)))
def test_fuzzed_files_fail_cleanly(offset: int, byte: int, cut: int) -> None:
    data = bytearray(DATA[:cut] if cut > offset else DATA)
    if offset < len(data):
        data[offset] = byte
    with contextlib.suppress(ElfError):
        load(bytes(data))


def test_missing_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ElfError, match="No such file"):
        ElfFile.open(tmp_path / "nope.ko")


# -- damage that the reader used to accept ------------------------------------------------

MODULE = (TESTDATA / "x86_64" / "livepatch-fixture.ko").read_bytes()
SH_TYPE, SH_OFFSET, SH_SIZE, SH_LINK, SH_INFO, SH_ALIGN = 4, 24, 32, 40, 44, 48


def _section(data: bytes, name: str) -> Section:
    found = ElfFile.from_bytes(data).find_section(name)
    assert found is not None
    return found


def test_overlapping_sections_are_refused() -> None:
    """The writer puts sections back where they were, in index order: a later
    section reaching over .rela.text would write its stale bytes over the
    relocations convert just rewrote."""
    stack, rela = _section(MODULE, ".note.GNU-stack"), _section(MODULE, ".rela.text")
    reach = rela.sh_offset + 8 - stack.sh_offset
    data = _patch_shdr(MODULE, stack.index, SH_SIZE, "Q", reach)
    with pytest.raises(ElfError, match=r"section \[\d+\] and section \[\d+\] .* overlap"):
        ElfFile.from_bytes(data, "bad.o")


@pytest.mark.parametrize(("offset", "what"), [(8, "the ELF header"),
                                              (None, "the section header table")])
def test_sections_overlapping_the_headers_are_refused(offset: int | None, what: str) -> None:
    shoff = ElfFile.from_bytes(MODULE).ehdr[12]
    text = _section(MODULE, ".text")
    data = _patch_shdr(MODULE, text.index, SH_OFFSET, "Q", shoff if offset is None else offset)
    with pytest.raises(ElfError, match=f"{what} .*overlap"):
        ElfFile.from_bytes(data, "bad.o")


def test_empty_sections_overlap_nothing() -> None:
    stack = _section(MODULE, ".note.GNU-stack")
    data = _patch_shdr(MODULE, stack.index, SH_OFFSET, "Q", 0x10)  # inside the ELF header
    assert ElfFile.from_bytes(data).to_bytes() == data


def _with_shndx_tables(count: int) -> bytes:
    """The sample object with ``count`` SHT_SYMTAB_SHNDX sections for its .symtab."""
    elf = ElfFile.from_bytes(DATA)
    for _ in range(count):
        elf.add_section(".symtab_shndx", SHT.SYMTAB_SHNDX, data=bytes(4 * len(elf.symtab)),
                        link=elf.symtab_section.index, addralign=4, entsize=4)
    return elf.to_bytes()


def test_second_symtab_shndx_is_refused() -> None:
    load(_with_shndx_tables(1))
    with pytest.raises(ElfError, match=r"two SHT_SYMTAB_SHNDX sections for \.symtab"):
        ElfFile.from_bytes(_with_shndx_tables(2), "bad.o")


@pytest.mark.parametrize("target", [".strtab", ".text", ".symtab_shndx"])
def test_relocations_must_use_a_symbol_table(target: str) -> None:
    """Convert skips a RELA section not linked to .symtab: the reader refuses it up front."""
    data = _with_shndx_tables(1)
    rela = _section(data, ".rela.text")
    data = _patch_shdr(data, rela.index, SH_LINK, "L", _section(data, target).index)
    with pytest.raises(ElfError, match=r"\.rela\.text \[\d+\]: sh_link .* is not a symbol table"):
        ElfFile.from_bytes(data, "bad.o")


@pytest.mark.parametrize(("info", "reason"), [(1000, "out of range"), (0, "SHF_INFO_LINK"),
                                              (None, "itself")])
def test_relocations_must_apply_to_a_section(info: int | None, reason: str) -> None:
    rela = _section(DATA, ".rela.text")
    data = _patch_shdr(DATA, rela.index, SH_INFO, "L", rela.index if info is None else info)
    with pytest.raises(ElfError, match=rf"\.rela\.text \[\d+\]: sh_info .*{reason}"):
        ElfFile.from_bytes(data, "bad.o")


def test_empty_relocation_sections_are_not_checked() -> None:
    """An empty RELA section relocates nothing (readelf lists none), whatever its links."""
    elf = ElfFile.from_bytes(DATA)
    elf.add_section(".rela.nothing", SHT.RELA, link=elf.find_section(".strtab").index,  # type: ignore[union-attr]
                    info=999, addralign=8, entsize=24)
    data = elf.to_bytes()
    assert ElfFile.from_bytes(data).to_bytes() == data


def _views() -> list[tuple[str, str]]:
    return [(first, then) for first in ("strings", "symbols", "rela", "group_members")
            for then in ("strings", "symbols", "rela", "group_members") if first != then]


@pytest.mark.parametrize(("first", "then"), _views())
def test_a_view_is_checked_on_every_use(first: str, then: str) -> None:
    """A section decoded as one kind of table is refused as any other (the check
    used to run before the first decode only, then an assert failed)."""
    elf = ElfFile.from_bytes(GROUP, "bad.o")
    kinds = {"strings": SHT.STRTAB, "symbols": SHT.SYMTAB, "rela": SHT.RELA,
             "group_members": SHT.GROUP}
    sec = elf.sections_of_type(kinds[first])[0]
    getattr(elf, first)(sec)
    with pytest.raises(ElfError, match=r"is not a|is an? "):
        getattr(elf, then)(sec)


def test_inspecting_relocations_linked_to_a_decoded_string_table() -> None:
    """``klp elf`` on an empty RELA section linked to .strtab, once .strtab was read."""
    elf = ElfFile.from_bytes(DATA)
    strtab = elf.find_section(".strtab")
    assert strtab is not None
    elf.add_section(".rela.empty", SHT.RELA, link=strtab.index, addralign=8, entsize=24)
    again = ElfFile.from_bytes(elf.to_bytes(), "bad.o")
    Listing(again, "symbols").check()  # decodes .strtab
    with pytest.raises(ElfError, match="is not a symbol table"):
        Listing(again, "relocs").check()


def _set_symbol_field(data: bytes, index: int, field_offset: int, fmt: str, value: int) -> bytes:
    symtab = _section(data, ".symtab")
    out = bytearray(data)
    struct.pack_into(("<" if out[5] == 1 else ">") + fmt, out,
                     symtab.sh_offset + index * 24 + field_offset, value)
    return bytes(out)


def test_xindex_symbol_without_symtab_shndx_is_refused() -> None:
    elf = ElfFile.from_bytes(DATA)
    defined = next(i for i in range(1, len(elf.symtab)) if elf.symtab.section_of(i))
    data = _set_symbol_field(DATA, defined, 6, "H", SHN.XINDEX)
    with pytest.raises(ElfError, match=r"symbol \d+ .*SHN_XINDEX.*no SHT_SYMTAB_SHNDX"):
        load(data)


GROUP = (TESTDATA / "group" / "group-x86_64.o").read_bytes()


def _set_group_word(data: bytes, word: int, value: int) -> bytes:
    group = ElfFile.from_bytes(data).sections_of_type(SHT.GROUP)[0]
    out = bytearray(data)
    struct.pack_into("<L" if out[5] == 1 else ">L", out, group.sh_offset + 4 * word, value)
    return bytes(out)


@pytest.mark.parametrize("member", [0, 1000, "self"])
def test_group_members_are_checked(member: int | str) -> None:
    group = ElfFile.from_bytes(GROUP).sections_of_type(SHT.GROUP)[0]
    data = _set_group_word(GROUP, 1, group.index if member == "self" else int(member))
    with pytest.raises(ElfError, match=r"\.group \[\d+\]: member \d+ is"):
        load(data)


def test_group_signature_is_checked() -> None:
    group = ElfFile.from_bytes(GROUP).sections_of_type(SHT.GROUP)[0]
    data = _patch_shdr(GROUP, group.index, SH_INFO, "L", 5000)
    with pytest.raises(ElfError, match="signature symbol 5000"):
        load(data)


def test_removing_a_section_another_links_to_is_an_elf_error() -> None:
    """Convert removes sections by name; what links to them is the input's doing."""
    elf = ElfFile.from_bytes(DATA, "bad.o")
    comment = elf.find_section(".comment")
    text = elf.find_section(".text")
    assert comment is not None and text is not None
    text.sh_link = comment.index
    before = elf.to_bytes()
    with pytest.raises(ElfError, match=r"bad\.o: .*\.text \[1\] links to .*\.comment"):
        elf.remove_sections([comment])
    assert elf.to_bytes() == before  # refused before anything changed


def test_removing_a_relocated_section_is_an_elf_error() -> None:
    elf = ElfFile.from_bytes(DATA, "bad.o")
    text = elf.find_section(".text")
    assert text is not None
    with pytest.raises(ElfError, match=r"bad.o: \.rela\.text \[\d+\] applies to \.text"):
        elf.remove_sections([text])


def test_removing_a_section_with_symbols_is_an_elf_error() -> None:
    elf = ElfFile.from_bytes(DATA, "bad.o")
    data = elf.find_section(".data")
    assert data is not None
    with pytest.raises(ElfError, match=r"symbol '\w+' .* is defined in \.data"):
        elf.remove_sections([data])


def test_removing_section_zero_or_the_name_table_is_an_elf_error() -> None:
    """Both can carry a ``.klp.module_relocs.*`` name in a damaged module."""
    elf = ElfFile.from_bytes(DATA, "bad.o")
    for sec in (elf.sections[0], elf.shstrtab_section):
        with pytest.raises(ElfError, match="cannot be removed"):
            elf.remove_sections([sec])


def test_section_zero_must_be_null() -> None:
    data = _patch_shdr(DATA, 0, SH_TYPE, "L", SHT.PROGBITS)
    with pytest.raises(ElfError, match=r"section \[0\] is not SHT_NULL"):
        ElfFile.from_bytes(data, "bad.o")


@pytest.mark.parametrize("align", [3, 6, 1 << 63 | 1])
def test_alignment_must_be_a_power_of_two(align: int) -> None:
    """gABI: sh_addralign is 0, 1 or a power of two."""
    text = _section(DATA, ".text")
    data = _patch_shdr(DATA, text.index, SH_ALIGN, "Q", align)
    with pytest.raises(ElfError, match=r"sh_addralign \w+ is not a power of two"):
        ElfFile.from_bytes(data, "bad.o")


def test_string_table_must_end_with_nul() -> None:
    """A name appended after an unterminated string would become part of it."""
    strtab = _section(DATA, ".strtab")
    out = bytearray(DATA)
    out[strtab.sh_offset + strtab.sh_size - 1] = ord("x")
    elf = ElfFile.from_bytes(bytes(out), "bad.o")
    with pytest.raises(ElfError, match=r"\.strtab \[\d+\]: string table does not end with NUL"):
        elf.rename_symbol(1, "klp_renamed")


def test_names_added_to_an_empty_string_table_leave_offset_0_empty() -> None:
    strtab = _section(DATA, ".strtab")
    elf = ElfFile.from_bytes(_patch_shdr(DATA, strtab.index, SH_SIZE, "Q", 0))
    elf.rename_symbol(1, "klp_renamed")
    again = ElfFile.from_bytes(elf.to_bytes())
    assert again.symtab.names()[:2] == ["", "klp_renamed"]


def test_symbol_0_must_be_the_null_symbol() -> None:
    """A null symbol "defined" in a section kept removal from renumbering it."""
    data = _set_symbol_field(DATA, 0, 6, "H", 1)  # st_shndx of symbol 0
    with pytest.raises(ElfError, match=r"\.symtab \[\d+\]: symbol 0 is not the null symbol"):
        load(data)
