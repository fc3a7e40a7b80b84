"""Parse binutils ``readelf -SW -sW -rW`` output: the independent oracle for the codec."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

from klp.elfcodec import describe
from klp.elfcodec.constants import SHN, SHT, r_info
from klp.elfcodec.elffile import ElfFile
from klp.elfview import symbol_label

_SECTION = re.compile(
    r"^\s*\[\s*(\d+)\]\s(.{17}\S*|.*?)\s+(\S+(?: \S+)*?)\s+([0-9a-f]{16})\s+([0-9a-f]+)\s+"
    r"([0-9a-f]+)\s+([0-9a-f]+)\s+([A-Za-z]*)\s+(\d+)\s+(\d+)\s+(\d+)$"
)
_SYMTAB = re.compile(r"^Symbol table '(.*)' contains (\d+) entr")
_SYMBOL = re.compile(
    r"^\s*(\d+):\s+([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+(\S+)\s+(\S+)\s+(\S+)"
    r"(?:\s+\[[^\]]*\])?\s+(UND|ABS|COM|\d+|OS \[0x[0-9a-f]+\]|PRC \[0x[0-9a-f]+\]|\S+)(?: (.*))?$"
)
_RELSEC = re.compile(r"^Relocation section '(.*)' at offset 0x[0-9a-f]+ contains (\d+) entr")
_RELOC = re.compile(
    r"^([0-9a-f]{16})\s+([0-9a-f]{16})\s+(\S+)\s+(?:([0-9a-f]{16})\s+(.*?)\s+([+-])\s+([0-9a-f]+)"
    r"|\s*([0-9a-f]+))$"
)


@dataclass
class Readelf:
    sections: list[tuple[object, ...]] = field(default_factory=list)
    symbols: list[tuple[object, ...]] = field(default_factory=list)
    relocs: dict[str, list[tuple[object, ...]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def readelf(path: str, tool: str = "readelf") -> Readelf:
    proc = subprocess.run(
        [tool, "-SW", "-sW", "-rW", path], capture_output=True, text=True,
        errors="surrogateescape", check=False,
    )
    out = Readelf()
    out.warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    current_symtab = None
    current_rel: list[tuple[object, ...]] | None = None
    for line in proc.stdout.splitlines():
        if m := _SYMTAB.match(line):
            current_symtab = m.group(1)
            current_rel = None
            continue
        if m := _RELSEC.match(line):
            current_rel = out.relocs.setdefault(m.group(1), [])
            current_symtab = None
            continue
        if m := _SECTION.match(line):
            n, name, typ, addr, off, size, es, flg, lk, inf, al = m.groups()
            out.sections.append(
                (int(n), name.strip(), typ, int(addr, 16), int(off, 16), int(size, 16),
                 int(es, 16), flg, int(lk), int(inf), int(al))
            )
            continue
        if current_symtab == ".symtab" and (m := _SYMBOL.match(line)):
            n, value, size, typ, bind, vis, ndx, name = m.groups()
            out.symbols.append(
                (int(n), int(value, 16), int(size, 0), typ, bind, vis, ndx, name or "")
            )
            continue
        if current_rel is not None and (m := _RELOC.match(line)):
            off, info, typ, _value, name, sign, addend, bare = m.groups()
            if bare is not None:
                add = int(bare, 16)
                name = ""
            else:
                add = int(addend, 16) * (-1 if sign == "-" else 1)
            current_rel.append((int(off, 16), int(info, 16), typ, name or "", add))
    return out


def _ndx(shndx: int) -> str:
    if shndx == SHN.LIVEPATCH:
        return "OS [0xff20]"
    return describe.section_index(shndx)


def codec_view(elf: ElfFile) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]],
                                      dict[str, list[tuple[object, ...]]]]:
    sections: list[tuple[object, ...]] = [
        (s.index, s.name, describe.section_type(s.sh_type), s.sh_addr, s.sh_offset, s.sh_size,
         s.sh_entsize, describe.section_flags(s.sh_flags), s.sh_link, s.sh_info, s.sh_addralign)
        for s in elf.sections
    ]
    symbols: list[tuple[object, ...]] = [
        (sym.index, sym.value, sym.size, describe.symbol_type(sym.type),
         describe.symbol_bind(sym.bind), describe.symbol_visibility(sym.other), _ndx(sym.shndx),
         symbol_label(elf, elf.symtab, sym.index))
        for sym in elf.symtab
    ]
    relocs: dict[str, list[tuple[object, ...]]] = {}
    for sec in elf.sections_of_type(SHT.RELA):
        table = elf.symbols(elf.section(sec.sh_link))
        rows = relocs.setdefault(sec.name, [])
        for rel in elf.rela(sec):
            name = symbol_label(elf, table, rel.sym) if rel.sym else ""
            rows.append((rel.offset, r_info(rel.sym, rel.type), elf.arch.reloc_name(rel.type),
                         name, rel.addend))
    # readelf does not list relocation sections that have no entries
    return sections, symbols, {k: v for k, v in relocs.items() if v}
