"""Fuzz target: ``klp verify`` on damaged livepatch modules that were converted.

The seeds are the bundled livepatches as ``klp convert`` writes them (klp
sections, klp symbols, a klp_patch, the record of the converted-for build;
livepatch-split has DWARF); the mutations go where verify looks: klp relocation
sections, symbols and their names, the patch's data and strings, its DWARF and the
record.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from klp.convert import api
from klp.verify.api import verify_file
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
    """Verify as the command does: against the record klp convert wrote into the
    module (.klp.converted), or, for every other input, --converted-with."""
    module = scratch / "in.ko"
    module.write_bytes(data)
    db = convert.symdb(convert.arch_of(data))
    verify_file(module, symdb=db, converted_with=db if len(data) % 2 else None)


MUTATE = m.mutator([
    (6, convert.aimed_at(".klp.rela.")),
    (5, m.symbol_field),
    (4, m.string_table),
    (4, convert.aimed_at(".data", ".rela.data", ".rodata")),
    (2, convert.aimed_at(".debug_", ".rela.debug_")),  # the patch's own declarations
    (2, convert.aimed_at(".klp.converted")),  # the record of the converted-for build
    (2, m.rela_field),
    (1, m.shdr_field),
])

TARGET = Target("verify", seeds, run, MUTATE, convert.setup)
