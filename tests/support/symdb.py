"""Symbol databases for tests: of a bundled sample kernel, or of hand-made objects."""

from __future__ import annotations

import pathlib

from klp.symdb.format import Assembler, SymbolDB, assemble, encode_object, header_meta
from klp.symdb.model import ObjectSymbols
from tests.support.cli import klp
from tests.support.paths import TESTDATA


def build(arch: str, out: pathlib.Path, *extra: str) -> pathlib.Path:
    """symbols.klp of one sample kernel (vmlinux, modules/, Module.symvers)."""
    t = TESTDATA / arch
    db = out / f"{arch}.klp"
    klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "--modules", str(t / "modules"),
        "--symvers", str(t / "Module.symvers"), "-o", str(db), *extra)
    return db


def obj(name: str, names: list[bytes], kind: str = "module") -> ObjectSymbols:
    n = len(names)
    return ObjectSymbols(
        name=name, label=f"{name}.ko", kind=kind, arch="x86_64", meta={"vermagic": "6.1.0 SMP "},
        names=names, letters=[b"t"] * n, infos=[0x02] * n, sizes=list(range(n)),
        sections=[b".text"] * n, values=[16 * i for i in range(n)], files=[b"a\tfile.c"] * n,
        exported={names[0]} if names else set())


def write(tmp_path: pathlib.Path, objects: list[ObjectSymbols], expected: int | None = None
          ) -> SymbolDB:
    encoded = [encode_object(o) for o in objects]
    meta = header_meta(encoded, "none")
    if expected is None:
        data = assemble(meta, encoded)
    else:
        asm = Assembler(expected)
        for e in encoded:
            asm.add(e)
        data = asm.finish(meta)
    path = tmp_path / "s.klp"
    path.write_bytes(data)
    return SymbolDB(str(path))
