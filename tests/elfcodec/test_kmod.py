"""The GNU build ID in a run of notes, as a note section or /sys/kernel/notes holds
it: readelf -n is the oracle, on every architecture (s390x in big-endian)."""

from __future__ import annotations

import pathlib
import re
import subprocess

import pytest

from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.kmod import build_id, build_id_in_notes
from tests.support.paths import ARCHES, TESTDATA


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("file", ["vmlinux", "modules/fixture-mod.ko"])
def test_the_build_id_is_readelfs(arch: str, file: str) -> None:
    path = TESTDATA / arch / file
    shown = subprocess.run(["readelf", "-nW", str(path)], capture_output=True, text=True,
                           check=True).stdout
    [expected] = re.findall(r"Build ID: ([0-9a-f]+)", shown)
    elf = ElfFile.open(path)
    assert build_id(elf) == expected
    [notes] = [s for s in elf.sections if s.name in (".notes", ".note.gnu.build-id")]
    assert build_id_in_notes(bytes(notes.raw()), elf.little) == expected
    assert build_id_in_notes(bytes(notes.raw()), not elf.little) == ""


def test_a_cut_note_has_no_build_id(tmp_path: pathlib.Path) -> None:
    """A note whose build ID runs past the end (a cut copy of /sys/kernel/notes) gives
    none, not a part of one that would pass for another build."""
    elf = ElfFile.open(TESTDATA / "x86_64" / "vmlinux")
    notes = elf.find_section(".notes")
    assert notes is not None
    raw = bytes(notes.raw())
    assert build_id_in_notes(raw[:-1], True) == ""
    assert build_id_in_notes(raw[:11], True) == ""
    assert build_id_in_notes(b"", True) == ""
