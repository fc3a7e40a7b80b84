"""Codec speed on Debian's cloud-amd64 kernel, against readelf and pyelftools.

Run: python bench/bench_codec.py   (needs tests/realdata/fetch.sh cloud-amd64)
Prints klp's time (median of 5 warm runs) to decode symbols and all non-debug
relocations of vmlinux and of every module, the same with pyelftools and
`readelf -sW -rW`, as ratios.
"""

from __future__ import annotations

import pathlib
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from klp.elfcodec.constants import SHT
from klp.elfcodec.elffile import ElfFile
from tests.realdata.paths import realdata_set


def klp_decode(path: str) -> int:
    elf = ElfFile.open(path)
    n = len(elf.symtab.rows)
    for sec in elf.sections_of_type(SHT.RELA):
        if not sec.name.startswith(".rela.debug"):
            n += len(elf.rela(sec))
    return n


def pyelftools_decode(path: str) -> int:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection

    n = 0
    with open(path, "rb") as f:
        elf = ELFFile(f)
        n += sum(1 for _ in elf.get_section_by_name(".symtab").iter_symbols())
        for sec in elf.iter_sections():
            if isinstance(sec, RelocationSection) and not sec.name.startswith(".rela.debug"):
                n += sum(1 for _ in sec.iter_relocations())
    return n


def timed(fn, paths):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for p in paths:
        fn(p)
    return time.perf_counter() - start


def main() -> None:
    env = realdata_set("cloud-amd64")
    if env is None:
        sys.exit("fetch the data first: tests/realdata/fetch.sh cloud-amd64")
    vmlinux = [env["VMLINUX"]]
    modules = sorted(str(p) for p in pathlib.Path(env["MODULES_DIR"]).rglob("*.ko"))
    readelf = lambda p: subprocess.run(["readelf", "-sW", "-rW", p],  # noqa: E731
                                       stdout=subprocess.DEVNULL, check=True)
    for label, paths in (("vmlinux", vmlinux), (f"{len(modules)} modules", modules)):
        timed(klp_decode, paths)  # warm the page cache, as the other tools then find it
        k = statistics.median(timed(klp_decode, paths) for _ in range(5))
        r = timed(readelf, paths)
        pe = timed(pyelftools_decode, paths)
        print(f"{label:14} klp {k:7.3f} s | readelf {r:7.3f} s ({r / k:5.1f}x) | "
              f"pyelftools {pe:7.3f} s ({pe / k:5.1f}x)")
    start = time.perf_counter()
    data = ElfFile.open(vmlinux[0]).to_bytes()
    took = time.perf_counter() - start
    same = data == pathlib.Path(vmlinux[0]).read_bytes()
    print(f"vmlinux write-back: {took:.3f} s, byte-identical: {same}")
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (pyelftools included): {peak:.0f} MB")


if __name__ == "__main__":
    main()
