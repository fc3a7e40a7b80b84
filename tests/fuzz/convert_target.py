"""Fuzz target: ``klp convert`` on damaged livepatch modules.

The seeds are the livepatch modules of testdata/ (KLP_SYMPOS annotations in
``.klp.module_relocs.*``, DWARF in livepatch-split) and livepatch-ambiguous with
KLP_RELOC_SYMBOL names; the mutations go where the
converter looks: symbols, relocations, annotations and debug info.
"""

from __future__ import annotations

import random
from pathlib import Path

from klp.convert import api
from klp.elfcodec.arch import ARCHES
from klp.elfcodec.elffile import ElfFile
from tests.fuzz import elfmutate as m
from tests.fuzz.engine import Target
from tests.support.convert import RELOC_SYMBOLS, rename_symbols
from tests.support.paths import ARCHES as ARCH_NAMES
from tests.support.paths import TESTDATA
from tests.support.symdb import build

#: arch -> symbols.klp of its sample kernel, built by setup() in each worker.
_SYMDB: dict[str, Path] = {}


def seeds() -> list[bytes]:
    found = [p.read_bytes() for arch in ARCH_NAMES
             for p in sorted((TESTDATA / arch).glob("livepatch-*.ko"))]
    for arch in ARCH_NAMES:  # KLP_RELOC_SYMBOL names, as the annotation's asm label writes
        elf = ElfFile.open(TESTDATA / arch / "livepatch-ambiguous.ko")
        rename_symbols(RELOC_SYMBOLS)(elf)
        found.append(elf.to_bytes())
    return found


def setup(folder: Path) -> None:
    for arch in ARCH_NAMES:
        if not (folder / f"{arch}.klp").exists():
            build(arch, folder)
        _SYMDB[arch] = folder / f"{arch}.klp"


def symdb(arch: str) -> Path:
    """The sample kernel's symbols.klp for ``arch`` (after setup)."""
    return _SYMDB[arch]


def run(data: bytes, scratch: Path) -> None:
    module, out = scratch / "in.ko", scratch / "out.ko"
    module.write_bytes(data)
    arch = arch_of(data)
    # what `klp convert MODULE -o OUT --symdb ... --symvers ...` does, verify included;
    # problems are an answer, not a failure
    api.convert_module(module, output=out, symdb=_SYMDB[arch],
                       symvers=TESTDATA / arch / "Module.symvers")
    if out.exists():
        ElfFile.open(out).decode_all()


def arch_of(data: bytes) -> str:
    """The sample kernel matching the module's e_machine (x86_64 when unknown)."""
    lay = m.layout(data)
    if lay is not None:
        machine = int.from_bytes(data[18:20], "little" if lay.little else "big")
        arch = ARCHES.get(machine)
        if arch is not None:
            return arch.name
    return "x86_64"


def aimed_at(*prefixes: str) -> m.Mutation:
    """A mutation aimed at the sections whose names start with ``prefixes``."""
    def mutate(rng: random.Random, data: bytearray, lay: m.Layout) -> None:
        among = lay.named(*prefixes)
        kind = rng.randrange(3)
        if kind == 0:
            m.shdr_field(rng, data, lay, among)
        elif kind == 1:
            m.rela_field(rng, data, lay, [h for h in among if h.type == m.SHT_RELA])
        else:
            m.section_bytes(rng, data, lay, among)
    return mutate


MUTATE = m.mutator([
    (6, m.symbol_field),
    (5, m.rela_field),
    (6, aimed_at(".klp.module_relocs.", ".rela.klp.module_relocs.")),
    (6, aimed_at(".debug_", ".rela.debug_")),
    (2, m.dwarf_form),
    (2, m.string_table),
    (2, m.shdr_field),
    (1, m.shdr_copy),
])

TARGET = Target("convert", seeds, run, MUTATE, setup)
