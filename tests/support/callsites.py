"""An independent reading of vmlinux's ftrace call sites (pyelftools and System.map),
the oracle for klp/symdb/callsites.py."""

from __future__ import annotations

import bisect
import struct
from pathlib import Path

#: R_*_RELATIVE by e_machine, as pyelftools names the machines.
_RELATIVE = {"EM_X86_64": 8, "EM_AARCH64": 1027, "EM_PPC64": 22, "EM_S390": 12}


def call_sites(vmlinux: Path, system_map: Path) -> tuple[dict[str, int], dict[int, list[int]]]:
    """An independent reading of vmlinux's ftrace call sites: each System.map name's
    first address, and per System.map address the offsets of the call sites
    (``__mcount_loc`` entries, read with pyelftools) in its kallsyms range, up to the
    next System.map address. Zero entries (removed by the build) do not count."""
    from elftools.elf.elffile import ELFFile

    entries = sorted((int(a, 16), n) for a, _t, n, *_ in
                     (ln.split() for ln in system_map.read_text().splitlines()))
    where: dict[str, int] = {}
    for address, name in entries:
        where.setdefault(name, address)
    sites: list[int] = []
    with vmlinux.open("rb") as f:
        elf = ELFFile(f)
        machine = elf["e_machine"]
        lo, hi = where["__start_mcount_loc"], where["__stop_mcount_loc"]
        sec = next((s for s in elf.iter_sections() if s["sh_type"] != "SHT_NOBITS"
                    and s["sh_addr"] <= lo < s["sh_addr"] + s["sh_size"]), None)
        if sec is not None:  # else an empty table at a section's end
            raw = sec.data()[lo - sec["sh_addr"]:hi - sec["sh_addr"]]
            order = "<" if elf.little_endian else ">"
            sites = [v for (v,) in struct.iter_unpack(order + "Q", raw)]
        rela = elf.get_section_by_name(".rela.dyn")
        if 0 in sites and rela is not None:
            # a relocatable vmlinux (arm64 7.x) keeps the entries in .rela.dyn's
            # addends (R_*_RELATIVE), which the kernel applies when it boots
            relative = _RELATIVE[machine]
            addends = {r["r_offset"]: r["r_addend"] % 2**64 for r in rela.iter_relocations()
                       if lo <= r["r_offset"] < hi and r["r_info_type"] == relative}
            sites = [v or addends.get(lo + 8 * k, 0) for k, v in enumerate(sites)]
    sites = sorted(v for v in sites if v)
    starts = sorted({a for a, _ in entries})
    if machine == "EM_AARCH64":
        # arch/arm64/kernel/ftrace.c ftrace_call_adjust(): the entry is the first
        # patchable NOP, at the function or (CALL_OPS) 8 bytes before it; the call
        # site is the NOP after the function's entry
        known = set(starts)
        sites = sorted(v + 12 if v + 8 in known else v + 4 for v in sites)
    ranges = {}
    for start, end in zip(starts, [*starts[1:], 2**64], strict=True):
        first, last = bisect.bisect_left(sites, start), bisect.bisect_left(sites, end)
        if last > first:
            ranges[start] = [site - start for site in sites[first:last]]
    return where, ranges
