"""Fuzz target: ``klp verify`` on damaged livepatch modules that were converted.

The seeds are the bundled livepatches as ``klp convert`` writes them (klp
sections, klp symbols, a klp_patch; livepatch-split has DWARF); the mutations go
where verify looks: klp relocation sections, symbols and their names, the patch's
data and strings, and its DWARF.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from klp.convert import api
from klp.convert.lookup import open_lookup
from klp.elfcodec.elffile import ElfFile
from klp.verify.check import verify_module
from klp.verify.intent import check_intent
from tests.fuzz import convert_target as convert
from tests.fuzz import elfmutate as m
from tests.fuzz.engine import Target
from tests.support.paths import ARCHES, TESTDATA
from tests.support.symdb import build


def seeds() -> list[bytes]:
    """klp's conversions of the bundled livepatches."""
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for arch in ARCHES:
            t = TESTDATA / arch
            db = build(arch, folder)
            for name in ("livepatch-fixture.ko", "livepatch-split.ko"):
                out = folder / f"{arch}-{name}"
                api.convert_module(t / name, output=out, symdb=db,
                                   symvers=t / "Module.symvers")
                found.append(out.read_bytes())
    return found


def run(data: bytes, scratch: Path) -> None:
    module = scratch / "in.ko"
    module.write_bytes(data)
    db = open_lookup(str(convert.symdb(convert.arch_of(data))))
    verdict = verify_module(ElfFile.open(module), db, target_vermagic=db.vermagic)
    check_intent(verdict, db, db, "the same database")  # --converted-with


MUTATE = m.mutator([
    (6, convert.aimed_at(".klp.rela.")),
    (5, m.symbol_field),
    (4, m.string_table),
    (4, convert.aimed_at(".data", ".rela.data", ".rodata")),
    (2, convert.aimed_at(".debug_", ".rela.debug_")),  # the patch's own declarations
    (2, m.rela_field),
    (1, m.shdr_field),
])

TARGET = Target("verify", seeds, run, MUTATE, convert.setup)
