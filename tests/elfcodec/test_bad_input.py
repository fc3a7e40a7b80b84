"""Malformed input raises ElfError naming file, offset and reason; nothing else escapes."""

from __future__ import annotations

import contextlib
import pathlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klp.elfcodec.constants import SHT
from klp.elfcodec.elffile import ElfFile
from klp.errors import ElfError
from tests.conftest import fixture_objects

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
