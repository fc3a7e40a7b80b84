"""binutils readelf as the oracle for DWARF compile-unit ranges."""

from __future__ import annotations

import pathlib
import re
import subprocess

from klp.elfcodec.constants import STT
from klp.elfcodec.dwarf import FunctionPlace, unit_ranges
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


_DIE = re.compile(r"^\s*<(\d+)><([0-9a-f]+)>: Abbrev Number: \d+ \((DW_TAG_\w+)\)")
_ORIGIN = re.compile(r"DW_AT_(?:abstract_origin|specification)\s*:\s*<0x([0-9a-f]+)>")


def inlining_oracle(path: pathlib.Path, tool: str, unit: int) -> dict[str, dict[str, int]]:
    """readelf's view of one unit (at .debug_info offset ``unit``): per function named
    in it, the top-level functions holding an inlined copy of it, and how many each.
    readelf dumps from the unit to the end of the section (without unit headers); this
    stops at the next unit's own entry (depth 0)."""
    names: dict[int, str] = {}
    origins: dict[int, int] = {}
    copies: list[tuple[int, int]] = []
    proc = subprocess.Popen([tool, "--debug-dump=info", f"--dwarf-start={unit}", str(path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    offset, tag, holder, units = 0, "", -1, 0
    for line in proc.stdout:
        if m := _DIE.match(line):
            depth, offset, tag = int(m[1]), int(m[2], 16), m[3]
            units += depth == 0
            if units > 1:
                break
            if tag == "DW_TAG_subprogram" and depth == 1:
                holder = offset
        elif tag in ("DW_TAG_subprogram", "DW_TAG_inlined_subroutine"):
            if (m := _NAME.search(line)) and tag == "DW_TAG_subprogram":
                names[offset] = m[1].strip()
            elif m := _ORIGIN.search(line):
                if tag == "DW_TAG_subprogram":
                    origins[offset] = int(m[1], 16)
                else:
                    copies.append((int(m[1], 16), holder))
    proc.kill()
    proc.wait()

    def named(at: int) -> str:
        while at not in names and at in origins:
            at = origins[at]
        return names.get(at, "")

    found: dict[str, dict[str, int]] = {}
    for origin, holder_at in copies:
        callers = found.setdefault(named(origin), {})
        callers[named(holder_at)] = callers.get(named(holder_at), 0) + 1
    return found


def function_places(elf: ElfFile) -> dict[str, FunctionPlace]:
    """Every function symbol defined in a section, by name (the first of a name)."""
    table, sections = elf.symtab, elf.sections
    found: dict[str, FunctionPlace] = {}
    for i in range(1, len(table)):
        if table.type(i) == STT.FUNC and 0 < table.shndx(i) < len(sections):
            found.setdefault(table.name(i), FunctionPlace(
                table.name(i), sections[table.shndx(i)].name, table.value(i)))
    return found
