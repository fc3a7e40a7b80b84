"""Facts about a kernel object that are not ELF: ``.modinfo``, the GNU build ID and
an appended module signature.

One reader for each, used by the symbol database, the converter and tests alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from klp.elfcodec.constants import SHT
from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.strings import decode_name

#: One ``key=value`` string of ``.modinfo`` (NUL-separated, padded with NULs).
_MODINFO_ITEM = re.compile(rb"([^\0=]+)=([^\0]*)")
NT_GNU_BUILD_ID = 3
#: What ends a signed module (kernel: include/linux/module_signature.h MODULE_SIG_STRING).
MODULE_SIG_STRING = b"~Module signature appended~\n"


def build_id(elf: ElfFile) -> str:
    """The GNU build ID (NT_GNU_BUILD_ID note) in hex, or ""."""
    for sec in elf.sections_of_type(SHT.NOTE):
        if found := build_id_in_notes(bytes(sec.raw()), elf.little):
            return found
    return ""


def build_id_in_notes(raw: bytes, little: bool) -> str:
    """The GNU build ID in a run of notes (a note section, or what /sys/kernel/notes
    and /sys/module/NAME/notes/* show of one), in hex, or ""."""
    order: Literal["little", "big"] = "little" if little else "big"
    pos = 0
    while pos + 12 <= len(raw):
        namesz = int.from_bytes(raw[pos : pos + 4], order)
        descsz = int.from_bytes(raw[pos + 4 : pos + 8], order)
        ntype = int.from_bytes(raw[pos + 8 : pos + 12], order)
        name_end = pos + 12 + namesz
        desc = (name_end + 3) & ~3
        if desc + descsz > len(raw):
            break  # a cut or damaged note: no build ID rather than a part of one
        if ntype == NT_GNU_BUILD_ID and raw[pos + 12 : name_end].rstrip(b"\0") == b"GNU":
            return raw[desc : desc + descsz].hex()
        pos = (desc + descsz + 3) & ~3
    return ""


def modinfo(elf: ElfFile) -> dict[str, str]:
    """``.modinfo`` as key -> first value (name, vermagic, livepatch, ...)."""
    sec = elf.find_section(".modinfo")
    if sec is None or sec.is_nobits:
        return {}
    found: dict[str, str] = {}
    for key, value in _MODINFO_ITEM.findall(bytes(sec.raw())):
        found.setdefault(decode_name(key), decode_name(value))
    return found


def is_livepatch(info: Mapping[str, str]) -> bool:
    """A livepatch module, by its :func:`modinfo` (kernel: check_modinfo_livepatch
    reads ``livepatch=Y``)."""
    return info.get("livepatch") == "Y"


def is_signed(elf: ElfFile) -> bool:
    """The file ends with a module signature (scripts/sign-file appends it after the
    ELF content; the loader checks it before reading the ELF)."""
    return bytes(elf.buffer[-len(MODULE_SIG_STRING):]) == MODULE_SIG_STRING
