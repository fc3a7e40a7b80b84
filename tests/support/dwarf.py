"""binutils readelf as the oracle for DWARF compile-unit ranges."""

from __future__ import annotations

import pathlib
import re
import subprocess

from klp.elfcodec.dwarf import unit_ranges
from klp.elfcodec.elffile import ElfFile

_UNIT = re.compile(r"^\s*Offset into \.debug_info:\s+(0x[0-9a-f]+|\d+)")


_RANGE = re.compile(r"^\s+([0-9a-f]{8,16}) ([0-9a-f]{8,16})\s*$")


_CU = re.compile(r"^\s*Compilation Unit @ offset (0x[0-9a-f]+|\d+):")


_NAME = re.compile(r"DW_AT_name\s*:\s*(?:\([^)]*\):\s*)?(.*)$")


def oracle(path: pathlib.Path, tool: str) -> list[tuple[str, int, int]]:
    """(unit name, start, end) of every non-empty range, in .debug_aranges order."""
    # depth 1: the units' own entries are all it needs (a vmlinux has millions more)
    info = subprocess.run([tool, "--debug-dump=info", "--dwarf-depth=1", str(path)],
                          capture_output=True, text=True, check=True).stdout
    names: dict[int, str] = {}
    unit = None
    for line in info.splitlines():
        if m := _CU.match(line):
            unit = int(m[1], 0)
        elif unit is not None and (m := _NAME.search(line)):
            names[unit] = m[1].strip()
            unit = None
    aranges = subprocess.run([tool, "--debug-dump=aranges", str(path)], capture_output=True,
                             text=True, check=True).stdout
    found = []
    for line in aranges.splitlines():
        if m := _UNIT.match(line):
            unit = int(m[1], 0)
        elif unit is not None and (m := _RANGE.match(line)) and int(m[2], 16):
            start = int(m[1], 16)
            found.append((names[unit], start, start + int(m[2], 16)))
    return found


def check(path: pathlib.Path, tool: str) -> None:
    elf = ElfFile.open(path)
    ours = unit_ranges(elf)
    assert ours, path
    assert [(u.name, u.start, u.end) for u in ours] == oracle(path, tool)
    for u in ours:  # every range lies in an allocated code section of the object
        sec = elf.sections[u.shndx]
        assert sec.name.startswith((".text", ".init.text", ".exit.text")), sec.name
        assert u.end <= sec.sh_size
