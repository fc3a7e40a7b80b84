"""The writer: bounded padding, no file klp cannot read back, no stranded temporary files."""

from __future__ import annotations

import os
import pathlib
import struct
import subprocess
import sys
import time

import pytest

from klp.elfcodec.constants import SHN, SHT, STB, STT, st_info
from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.writer import MAX_APPENDED_ALIGN, write_bytes_atomic
from klp.errors import ElfError, OutputError
from tests.support.paths import TESTDATA

MODULE = TESTDATA / "x86_64" / "livepatch-fixture.ko"


def test_file_without_section_headers_writes_back(tmp_path: pathlib.Path) -> None:
    """e_shoff = 0: nothing to lay out, and the header comes back as it was."""
    data = bytearray(MODULE.read_bytes()[:64])
    struct.pack_into("<Q", data, 0x28, 0)  # e_shoff
    struct.pack_into("<HH", data, 0x3C, 0, 7)  # e_shnum, and a stray e_shstrndx kept as it was
    elf = ElfFile.from_bytes(bytes(data))
    assert elf.sections == [] and elf.shstrndx == 0
    assert elf.to_bytes() == data
    elf.write(tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


def _grow_symtab(elf: ElfFile) -> None:
    """A new local symbol: .symtab outgrows its place and is appended."""
    elf.add_symbol("klp_grown", info=st_info(STB.LOCAL, STT.NOTYPE), shndx=SHN.ABS)


@pytest.mark.parametrize("align", [1 << 17, 1 << 30, 1 << 63])
def test_appended_section_alignment_is_bounded(align: int) -> None:
    """An alignment of 2**30 used to pad an 8.7 KB module to 1 GB; 2**63 overflowed."""
    elf = ElfFile.from_bytes(MODULE.read_bytes(), "bad.ko")
    elf.symtab_section.sh_addralign = align
    _grow_symtab(elf)
    started = time.monotonic()
    with pytest.raises(ElfError, match=r"bad\.ko: \.symtab \[\d+\]: sh_addralign .* up to"):
        elf.to_bytes()
    assert time.monotonic() - started < 1


def test_largest_page_alignment_is_honoured() -> None:
    elf = ElfFile.from_bytes(MODULE.read_bytes())
    elf.symtab_section.sh_addralign = MAX_APPENDED_ALIGN
    _grow_symtab(elf)
    again = ElfFile.from_bytes(elf.to_bytes())
    assert again.symtab_section.sh_offset % MAX_APPENDED_ALIGN == 0
    assert len(again.buffer) < len(MODULE.read_bytes()) + 2 * MAX_APPENDED_ALIGN


def test_a_file_klp_cannot_read_back_is_not_written(tmp_path: pathlib.Path) -> None:
    """A caller's edit that breaks a rule of the reader: refused, the old file intact."""
    out = tmp_path / "out.ko"
    out.write_bytes(b"previous")
    elf = ElfFile.from_bytes(MODULE.read_bytes())
    strtab = elf.find_section(".strtab")
    assert strtab is not None
    elf.add_section(".rela.bad", SHT.RELA, data=bytes(24), link=strtab.index, info=1,
                    addralign=8, entsize=24)
    with pytest.raises(OutputError, match=r"out\.ko: not written: .*is not a symbol table"):
        elf.write(out)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ko"]


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path: pathlib.Path) -> None:
    stale = tmp_path / f".klp-{_dead_pid()}-abc123.tmp"
    live = tmp_path / f".klp-{os.getppid()}-abc123.tmp"  # a process that is still there
    other = tmp_path / ".klp-notours.tmp"
    for path in (stale, live, other):
        path.write_bytes(b"half a module")
    write_bytes_atomic(str(tmp_path / "out"), b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, "out"])


def test_a_write_killed_before_the_rename_is_cleaned_up(tmp_path: pathlib.Path) -> None:
    """kill -9 between writing the temporary file and renaming it over the target."""
    killed = ("import os, signal\n"
              "from klp.elfcodec import writer\n"
              "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
              f"writer.write_bytes_atomic({str(tmp_path / 'out')!r}, b'new')\n")
    proc = subprocess.run([sys.executable, "-c", killed], check=False)
    assert proc.returncode == -9
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".klp-")
    write_bytes_atomic(str(tmp_path / "out"), b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_symbolic_link_is_written_through(tmp_path: pathlib.Path) -> None:
    """As cp does: the link stays a link, and what it names gets the new contents."""
    target = tmp_path / "v2" / "patch.ko"
    target.parent.mkdir()
    link = tmp_path / "current.ko"
    link.symlink_to(target)
    write_bytes_atomic(str(link), b"new")  # the target does not exist yet
    assert link.is_symlink() and target.read_bytes() == b"new"
    write_bytes_atomic(str(link), b"newer")
    assert link.is_symlink() and target.read_bytes() == b"newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.ko", "v2"]


def test_a_fifo_or_device_is_written_into(tmp_path: pathlib.Path) -> None:
    """Never replaced by a file, which would leave /dev/null a file for every program."""
    write_bytes_atomic("/dev/null", b"gone")
    assert os.stat("/dev/null").st_rdev == os.makedev(1, 3)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    write_bytes_atomic(str(fifo), b"through the pipe")
    assert reader.communicate(timeout=10)[0] == b"through the pipe"
    assert fifo.is_fifo()


def test_a_folder_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(OutputError, match="cannot write: it is a folder"):
        write_bytes_atomic(str(tmp_path), b"x")
