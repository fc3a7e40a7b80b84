"""Fuzz target: ``klp symdb build`` over one damaged object, a module of the tree or
the vmlinux.

A build reads each object's symbols, sections, .modinfo, kallsyms table, call sites
and DWARF unit ranges; a damaged object must end in a clean error that names it,
never a traceback, a hang or a blow-up, and a database klp writes must be one its
reader accepts. Seeds are the sample kernels' modules, livepatch modules and vmlinux
of the four architectures; the mutations are the codec target's.
"""

from __future__ import annotations

from pathlib import Path

from klp.symdb.build import build
from klp.symdb.format import SymbolDB
from klp.symdb.sources import find_sources
from tests.fuzz import codec_target
from tests.fuzz.engine import Target
from tests.support.paths import ARCHES, TESTDATA

ET_EXEC = 2


def seeds() -> list[bytes]:
    paths = [p for arch in ARCHES for p in (TESTDATA / arch / "vmlinux",
                                            TESTDATA / arch / "modules" / "fixture-mod.ko",
                                            TESTDATA / arch / "livepatch-split.ko")]
    return [p.read_bytes() for p in paths if p.exists()]


def run(data: bytes, scratch: Path) -> None:
    linked = len(data) > 17 and ET_EXEC in (data[16], data[17])  # e_type, either order
    path = scratch / ("vmlinux" if linked else "fuzzed.ko")
    path.write_bytes(data)
    if linked:
        found = find_sources(vmlinux=str(path))
    else:
        found = find_sources(system_map=str(TESTDATA / "x86_64" / "System.map"),
                             paths=[str(path)], debug_modules=str(scratch))
    out = scratch / "symbols.klp"
    out.write_bytes(build(found, jobs=1).data)
    db = SymbolDB(str(out))
    for obj in db.objects():
        db.object_meta(obj)
    sum(1 for _ in db)


TARGET = Target("scan", seeds, run, codec_target.MUTATE)
