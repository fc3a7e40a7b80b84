"""ftrace call sites by kallsyms range: the functions a livepatch may hook in the wrong place.

livepatch redirects a function at its ftrace call site, and klp_patch_func()
(kernel/livepatch/patch.c) asks ftrace_location() for it. Since v5.19 (commit
aebfd12521d9) that is the call site at the function's address if there is one,
else whichever call site of the function's kallsyms range (its address up to the
next kallsyms symbol) the binary search in lookup_rec() meets. A range can hold
several: the body of an overridden ``__weak`` function keeps its call site when the
linker drops its symbol, and so joins the range of the symbol before it. A patch
that hooks that body loads, reports itself enabled and never runs.

The scanner reads vmlinux's call sites (the ``__start_mcount_loc`` ..
``__stop_mcount_loc`` table) and each module's (the relocations of its table),
and the database keeps the ranges that hold several with none at the start: the
``ftrace-shared`` key of the object's ``%`` lines, with ``ftrace-sites`` (how
many call sites there are) saying that the call sites were read at all.
"""

from __future__ import annotations

import bisect
import re
import struct
from collections.abc import Sequence
from functools import partial
from itertools import pairwise, repeat
from typing import TYPE_CHECKING

from klp.elfcodec.constants import EM
from klp.symdb.model import SharedRanges

if TYPE_CHECKING:
    from klp.elfcodec.elffile import ElfFile

SITES_KEY = "ftrace-sites"
SHARED_KEY = "ftrace-shared"
TABLE_BOUNDS = (b"__start_mcount_loc", b"__stop_mcount_loc")
#: A module's call-site table, by the kernel's FTRACE_CALLSITE_SECTION.
MODULE_TABLES = ("__mcount_loc", "__patchable_function_entries")
#: kernel/module/kallsyms.c is_mapping_symbol: arm64's $x/$d, and local labels.
_MAPPING_SYMBOL = re.compile(rb"\$[axtd](?:\.|$)|\.L")
_MAPPING_PREFIXES = (b"$", b".L")


def vmlinux_call_sites(elf: ElfFile, start: int, stop: int) -> list[int] | None:
    """The link-time addresses of vmlinux's ftrace call sites, sorted; None when the
    table's bounds do not lie in one section with contents.

    A zero entry is one the build removed (newer kernels' scripts/sorttable, the 7.3
    ones here, zeroes the call sites of overridden weak functions) and the kernel
    skips. A relocatable vmlinux may
    leave an entry zero and give its address as the addend of a RELATIVE relocation
    in ``.rela.dyn`` (arm64), which the kernel applies as it boots.
    """
    if start > stop or (stop - start) % 8:
        return None
    data = elf.bytes_at(start, stop - start)
    if data is None:
        return None
    order = "<" if elf.little else ">"
    entries = list(struct.unpack(f"{order}{len(data) // 8}Q", data))
    if 0 in entries:
        relative = _relative_addends(elf, start, stop)
        entries = [e or relative.get(start + 8 * k, 0) for k, e in enumerate(entries)]
    return sorted(e for e in entries if e)


def _relative_addends(elf: ElfFile, start: int, stop: int) -> dict[int, int]:
    """Place -> link-time address, of the RELATIVE relocations into [start, stop)."""
    found: dict[int, int] = {}
    relative = elf.arch.relative
    for section in elf.sections:
        if section.name != ".rela.dyn":
            continue
        table = elf.rela(section)
        for offset, rtype, addend in zip(table.offsets, table.types(), table.addends,
                                         strict=True):
            if rtype == relative and start <= offset < stop:
                found[offset] = addend % (1 << 64)
    return found


#: arm64 records the first NOP of -fpatchable-function-entry: at the function's entry,
#: or with CALL_OPS two NOPs (8 bytes) before it; the call site ftrace patches is the NOP
#: after the entry, 4 bytes in (BTI adds 4 more). arch/arm64/kernel/ftrace.c
#: ftrace_call_adjust(); the other architectures record the call site itself.
_ARM64_BEFORE_ENTRY = 8


def arm64_call_sites(entries: Sequence[int], addresses: Sequence[int]) -> list[int]:
    """Where ftrace puts arm64's call sites, from the table's ``entries``: always past
    the function's address, and in the range of the function the NOPs belong to."""
    starts = set(addresses)
    before = _ARM64_BEFORE_ENTRY
    return sorted(e + before + 4 if e + before in starts else e + 4 for e in entries)


def shared_ranges(addresses: Sequence[int], sites: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """The kallsyms ranges that hold several call sites and none at their start, by
    start: the offsets of their call sites.

    ``addresses``: every kallsyms symbol's address (or a section's symbols' offsets);
    ``sites``: the call sites, sorted.
    """
    starts = sorted(set(addresses))
    ranges = list(map(partial(bisect.bisect_right, starts), sites))  # 1 + each's range
    crowded = {k for k, following in pairwise(ranges) if k == following and k}
    if not crowded:
        return {}
    found: dict[int, list[int]] = {}
    for site, k in zip(sites, ranges, strict=True):
        if k in crowded:
            found.setdefault(starts[k - 1], []).append(site)
    return {start: tuple(site - start for site in those) for start, those in found.items()
            if those[0] != start}


def vmlinux_shared(elf: ElfFile, addresses: Sequence[int], sites: Sequence[int]
                   ) -> SharedRanges:
    """:func:`shared_ranges` keyed as vmlinux's records give their address."""
    calls = arm64_call_sites(sites, addresses) if elf.e_machine == EM.AARCH64 else sites
    return {f"{start:016x}": offsets for start, offsets in shared_ranges(addresses, calls).items()}


def module_call_sites(elf: ElfFile) -> dict[int, list[int]]:
    """A module's ftrace call sites by section, as offsets: the relocations of its
    ``__mcount_loc`` (``__patchable_function_entries`` with
    CONFIG_FTRACE_MCOUNT_USE_PATCHABLE_FUNCTION_ENTRY: arm64) section, which the
    loader fills in (kernel/module/main.c find_module_sections). A module without
    one has no call sites."""
    symbols = elf.symtab
    sites: dict[int, list[int]] = {}
    for section in elf.sections:
        table = elf.rela_of(section) if section.name in MODULE_TABLES else None
        if table is None:
            continue
        rela = elf.rela(table)
        against, addends = rela.symbols(), rela.addends
        by_symbol: dict[int, list[int]] = {}  # a handful: the code's section symbols
        for sym, addend in zip(against, addends, strict=True):
            by_symbol.setdefault(sym, []).append(addend)
        for sym, mine in by_symbol.items():
            shndx = symbols.section_of(sym)
            if shndx is not None:
                sites.setdefault(shndx, []).extend(map(symbols.value(sym).__add__, mine))
    return sites


def module_shared(elf: ElfFile, sites: dict[int, list[int]], names: Sequence[bytes],
                  sections: Sequence[bytes], values: Sequence[int]) -> SharedRanges:
    """:func:`shared_ranges` of a module, keyed as its records give their address
    (``.text+0x40``): each section's ranges run from one kallsyms symbol of the
    section to the next (kernel/module/kallsyms.c find_kallsyms_symbol, which skips
    mapping symbols)."""
    arm64 = elf.e_machine == EM.AARCH64
    present = set(sections)  # init code has no kallsyms symbols once the module is up
    named = {shndx: name for shndx in sites
             if (name := elf.sections[shndx].name.encode()) in present}
    symbols = set(zip(sections, values, strict=True))
    if not arm64 and all(symbols.issuperset(zip(repeat(name), sites[shndx]))
                         for shndx, name in named.items()):
        return {}  # each call site at a symbol (x86_64 without IBT, s390x): none shared
    wanted = set(named.values())
    kept = [(in_section, value) for name, in_section, value in zip(names, sections, values,
                                                                   strict=True)
            if in_section in wanted
            and not (name.startswith(_MAPPING_PREFIXES) and _MAPPING_SYMBOL.match(name))]
    starts: dict[bytes, list[int]] = {}
    for in_section, value in kept:
        starts.setdefault(in_section, []).append(value)
    shared: SharedRanges = {}
    for shndx in named:
        found, section = sites[shndx], elf.sections[shndx].name
        if " " in section or "=" in section:
            continue  # no kernel's; it could not be written back unambiguously
        addresses = starts.get(section.encode(), [])
        calls = arm64_call_sites(found, addresses) if arm64 else sorted(found)
        for start, offsets in shared_ranges(addresses, calls).items():
            shared[f"{section}+{start:#x}"] = offsets
    return shared


def encode_shared(shared: SharedRanges) -> str:
    """``address=offset,offset ...``, the offsets in hex, by address."""
    return " ".join(f"{address}=" + ",".join(f"{o:x}" for o in offsets)
                    for address, offsets in sorted(shared.items()))


def decode_shared(text: str) -> SharedRanges:
    """The inverse of :func:`encode_shared`; ValueError for anything else."""
    shared: SharedRanges = {}
    for entry in text.split():
        address, sep, offsets = entry.rpartition("=")
        if not sep or not address:
            raise ValueError(entry)
        shared[address] = tuple(int(o, 16) for o in offsets.split(","))
    return shared
