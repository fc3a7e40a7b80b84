"""One object in, its kallsyms-visible symbols out, in the kernel's position order.

vmlinux follows scripts/kallsyms.c and scripts/mksysmap: defined, named symbols
that are not section/file symbols, local labels, mapping symbols or the few
names kallsyms drops, sorted by address. A module follows kernel/module/kallsyms.c
(is_core_symbol): defined symbols with a name in a SHF_ALLOC section that is
not an init section, in .symtab order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from klp.elfcodec.constants import SHF, SHN, STB, STT
from klp.elfcodec.elffile import ElfFile

# scripts/mksysmap: local labels, arm/arm64 mapping symbols, CRCs; and
# scripts/kallsyms.c ignored_symbols/prefixes/suffixes.
_DROPPED = re.compile(
    r"\.L.*|L0.*|\$[adtx](?:\..*)?|__crc_.*|__efistub_.*|__kvm_nvhe_\$.*|__kvm_nvhe_\.L.*"
    r"|__AArch64ADRPThunk_.*|__ARMV5PILongThunk_.*|__ARMV7PILongThunk_.*"
    r"|__ThumbV7PILongThunk_.*|__LA25Thunk_.*|__microLA25Thunk_.*|__kcfi_typeid_.*"
    r"|.*_from_arm|.*_from_thumb|.*_veneer"
    r"|_GLOBAL_OFFSET_TABLE_|kallsyms_(?:addresses|offsets|relative_base|num_syms|names"
    r"|markers|token_table|token_index|seqs_of_names)|_SDA_BASE_|_SDA2_BASE_"
)

TYPE_NAMES: dict[int, str] = {
    STT.NOTYPE: "NOTYPE", STT.OBJECT: "OBJECT", STT.FUNC: "FUNC", STT.TLS: "TLS",
    STT.GNU_IFUNC: "IFUNC", STT.COMMON: "COMMON"}
BIND_NAMES: dict[int, str] = {STB.LOCAL: "LOCAL", STB.GLOBAL: "GLOBAL", STB.WEAK: "WEAK",
              STB.GNU_UNIQUE: "UNIQUE"}


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    type: str
    bind: str
    size: int
    address: str  #: vmlinux: hex link address; module: section+offset
    file: str


@dataclass
class ObjectSymbols:
    name: str
    path: str
    records: list[Record]
    #: vermagic (modules) or kernel release (vmlinux), for staleness checks.
    release: str = ""


def _source_files(names: list[str], rows: Sequence[tuple[int, ...]]) -> list[str]:
    """The nearest preceding STT_FILE name for every local row (globals have none:
    they all follow the last file symbol)."""
    files = []
    current = ""
    for name, row in zip(names, rows, strict=True):
        if row[1] & 0xF == STT.FILE:
            current = name
        files.append(current if row[1] >> 4 == STB.LOCAL else "")
    return files


def scan_vmlinux(elf: ElfFile, path: str) -> ObjectSymbols:
    table = elf.symtab
    rows = table.rows
    names = table.names()
    files = _source_files(names, rows)
    kept = []
    for i, row in enumerate(rows):
        info, shndx = row[1], row[3]
        if shndx == SHN.UNDEF or info & 0xF in (STT.SECTION, STT.FILE):
            continue
        name = names[i]
        if not name or _DROPPED.fullmatch(name):
            continue
        if shndx == SHN.ABS and info >> 4 == STB.LOCAL:
            continue  # mksysmap drops 'a' symbols
        kept.append((row[4], i))
    kept.sort()  # kallsyms: by address, then input order
    records = [
        Record(names[i], TYPE_NAMES.get(rows[i][1] & 0xF, "?"),
               BIND_NAMES.get(rows[i][1] >> 4, "?"), rows[i][5], f"{rows[i][4]:x}", files[i])
        for _, i in kept
    ]
    return ObjectSymbols("vmlinux", path, records, _release(elf))


def _release(elf: ElfFile) -> str:
    """The kernel release from linux_banner ("Linux version <release> ...")."""
    table = elf.symtab
    for i, name in enumerate(table.names()):
        if name == "linux_banner":
            shndx = table.shndx(i)
            if not 0 < shndx < len(elf.sections):
                return ""
            sec = elf.sections[shndx]
            start = table.rows[i][4] - sec.sh_addr
            text = bytes(sec.raw()[start : start + 200])
            parts = text.split(b"\0", 1)[0].split()
            return parts[2].decode(errors="replace") if len(parts) > 2 else ""
    return ""


def modinfo(elf: ElfFile) -> dict[str, str]:
    sec = elf.find_section(".modinfo")
    if sec is None:
        return {}
    found: dict[str, str] = {}
    for item in bytes(sec.raw()).split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            found.setdefault(key.decode(errors="replace"), value.decode(errors="replace"))
    return found


def scan_module(elf: ElfFile, path: str, fallback_name: str) -> ObjectSymbols:
    info_map = modinfo(elf)
    table = elf.symtab
    rows = table.rows
    names = table.names()
    files = _source_files(names, rows)
    sections = elf.sections
    shnum = len(sections)
    records = []
    for i, row in enumerate(rows):
        shndx = table.shndx(i) if row[3] == SHN.XINDEX else row[3]
        if shndx == SHN.UNDEF or shndx >= shnum or not row[0]:
            continue
        sec = sections[shndx]
        if not sec.sh_flags & SHF.ALLOC or sec.name.startswith(".init"):
            continue
        records.append(Record(names[i], TYPE_NAMES.get(row[1] & 0xF, "?"),
                              BIND_NAMES.get(row[1] >> 4, "?"), row[5],
                              f"{sec.name}+{row[4]:#x}", files[i]))
    name = info_map.get("name") or fallback_name
    return ObjectSymbols(name, path, records, info_map.get("vermagic", ""))


def is_livepatch(elf: ElfFile) -> bool:
    return modinfo(elf).get("livepatch") == "Y"
