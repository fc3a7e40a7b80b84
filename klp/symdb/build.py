"""``klp symdb build``: find the objects, scan them in parallel, write symbols.klp."""

from __future__ import annotations

import gzip
import lzma
import os
import subprocess
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from klp.elfcodec.elffile import ElfFile
from klp.errors import ElfError, InputError, KlpError
from klp.symdb.scan import ObjectSymbols, Record, is_livepatch, scan_module, scan_vmlinux
from klp.symvers import module_name

MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")


@dataclass
class Sources:
    vmlinux: str | None = None
    system_map: str | None = None
    modules: list[str] = field(default_factory=list)
    symvers: str | None = None


def find_sources(kernel_tree: str | None, vmlinux: str | None, system_map: str | None,
                 modules_dir: str | None, symvers: str | None,
                 paths: Sequence[str]) -> Sources:
    src = Sources(vmlinux, system_map, [], symvers)
    if kernel_tree:
        tree = Path(kernel_tree)
        if not (tree / "vmlinux").is_file():
            raise InputError(f"{tree}: no vmlinux (build the kernel first)")
        src.vmlinux = src.vmlinux or str(tree / "vmlinux")
        if src.symvers is None and (tree / "Module.symvers").is_file():
            src.symvers = str(tree / "Module.symvers")
        order = tree / "modules.order"
        if order.is_file():
            for line in order.read_text().split():
                obj = tree / line
                ko = obj.with_suffix(".ko")
                src.modules.append(str(ko if ko.is_file() else obj))
    if modules_dir:
        root = Path(modules_dir)
        if not root.is_dir():
            raise InputError(f"{root}: not a folder")
        src.modules += sorted(str(p) for p in root.rglob("*")
                              if p.name.endswith(MODULE_SUFFIXES) and p.is_file())
    for p in paths:
        if Path(p).name == "vmlinux" and src.vmlinux is None:
            src.vmlinux = p
        else:
            src.modules.append(p)
    if not (src.vmlinux or src.system_map or src.modules):
        raise InputError("nothing to scan: give --kernel-tree, --vmlinux, --system-map, "
                         "--modules or object paths")
    return src


def read_object(path: str) -> bytes:
    """A module's ELF bytes, decompressing .xz, .gz and .zst as the kernel does."""
    try:
        if path.endswith(".xz"):
            return lzma.decompress(Path(path).read_bytes())
        if path.endswith(".gz"):
            return gzip.decompress(Path(path).read_bytes())
        if path.endswith(".zst"):
            return subprocess.run(["zstd", "-dcq", path], capture_output=True,
                                  check=True).stdout
        return Path(path).read_bytes()
    except (OSError, lzma.LZMAError, EOFError, subprocess.CalledProcessError) as e:
        raise ElfError(path, f"cannot read: {e}") from None


def _module_fallback_name(path: str) -> str:
    return module_name(path)


def scan_path(path: str) -> ObjectSymbols | KlpError | None:
    """Worker: one module; None for a livepatch module (left out), or the error."""
    try:
        elf = ElfFile.from_bytes(read_object(path), path)
        if is_livepatch(elf):
            return None
        return scan_module(elf, path, _module_fallback_name(path))
    except KlpError as e:
        return e


def read_system_map(path: str) -> ObjectSymbols:
    records = []
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            for lineno, line in enumerate(f, 1):
                parts = line.split()
                if len(parts) < 3:
                    raise InputError(f"{path}:{lineno}: not a System.map line")
                addr, kind, name = parts[:3]
                records.append(Record(name, kind, "LOCAL" if kind.islower() else "GLOBAL",
                                      0, addr, ""))
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    return ObjectSymbols("vmlinux", path, records)


@dataclass
class BuildResult:
    objects: list[ObjectSymbols]
    skipped: list[str]
    livepatches: list[str]


def build(src: Sources, jobs: int, keep_going: bool, progress: bool) -> BuildResult:
    objects: list[ObjectSymbols] = []
    skipped: list[str] = []
    livepatches: list[str] = []
    if src.system_map:
        objects.append(read_system_map(src.system_map))
    elif src.vmlinux:
        objects.append(scan_vmlinux(ElfFile.open(src.vmlinux), src.vmlinux))
    results: list[ObjectSymbols | KlpError | None]
    if jobs > 1 and len(src.modules) > 8:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(_track(pool.map(scan_path, src.modules, chunksize=32),
                                  len(src.modules), progress))
    else:
        results = list(_track(map(scan_path, src.modules), len(src.modules), progress))
    modules = []
    for path, res in zip(src.modules, results, strict=True):
        if isinstance(res, KlpError):
            if not keep_going:
                raise res
            skipped.append(f"{res}")
        elif res is None:
            livepatches.append(path)
        else:
            modules.append(res)
    modules.sort(key=lambda o: (o.name, o.path))
    return BuildResult(objects + modules, skipped, livepatches)


def _track(items, total: int, progress: bool):  # type: ignore[no-untyped-def]
    if not progress or total < 2:
        yield from items
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("scanning modules", total=total)
        for item in items:
            bar.advance(task)
            yield item


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
