"""The codec's decoding speed on Debian's cloud-amd64 kernel, against readelf and
pyelftools: the symbols and all non-debug relocations of vmlinux and of every
module (in this process: no start-up, the library alone)."""

from __future__ import annotations

import pathlib
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from bench.common import Goal, realdata
from klp.elfcodec.constants import SHT
from klp.elfcodec.elffile import ElfFile


def klp_decode(path: str) -> int:
    elf = ElfFile.open(path)
    n = len(elf.symtab)
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


def readelf(path: str) -> None:
    subprocess.run(["readelf", "-sW", "-rW", path], stdout=subprocess.DEVNULL, check=True)


def timed(decode: Callable[[str], object], paths: list[str]) -> float:
    start = time.perf_counter()
    for p in paths:
        decode(p)
    return time.perf_counter() - start


def measure(runs: int) -> list[Goal]:
    env = realdata("cloud-amd64")
    if env is None:
        sys.exit("fetch the data first: tests/realdata/fetch.sh cloud-amd64")
    modules = sorted(str(p) for p in pathlib.Path(env["MODULES_DIR"]).rglob("*.ko"))
    goals = []
    for label, paths in (("vmlinux", [env["VMLINUX"]]), (f"{len(modules)} modules", modules)):
        timed(klp_decode, paths)  # warm the page cache, as the other tools then find it
        k = statistics.median(timed(klp_decode, paths) for _ in range(runs))
        r = timed(readelf, paths)
        pe = timed(pyelftools_decode, paths)
        print(f"decode {label:<13} klp {k:7.3f} s | readelf -sW -rW {r:7.3f} s ({r / k:5.1f}x) "
              f"| pyelftools {pe:7.3f} s ({pe / k:5.1f}x)")
        goals += [Goal(f"codec decode, {label}: faster than readelf", k, r,
                       note=f"({r / k:.1f}x)"),
                  Goal(f"codec decode, {label}: faster than pyelftools", k, pe,
                       note=f"({pe / k:.1f}x)")]
    vmlinux = env["VMLINUX"]
    start = time.perf_counter()
    same = ElfFile.open(vmlinux).to_bytes() == pathlib.Path(vmlinux).read_bytes()
    print(f"vmlinux write-back {time.perf_counter() - start:.3f} s, byte-identical: {same}; "
          f"peak RSS of this process (pyelftools included) "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return goals
