"""Symbol databases for tests: of a bundled sample kernel, or of hand-made objects."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

from klp.symdb.format import Assembler, SymbolDB, assemble, encode_object, header_meta
from klp.symdb.model import BIND_NAMES, TYPE_NAMES, ObjectSymbols, SymbolRecord
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


#: An edit of one object's records (in position order), given the object's name.
RecordsEdit = Callable[[str, list[SymbolRecord]], list[SymbolRecord]]


def rewritten(db: pathlib.Path, out: pathlib.Path, edit: RecordsEdit) -> pathlib.Path:
    """A copy of ``db`` at ``out`` whose objects' records ``edit`` changed, as the
    database of another build would have them (late positions are not kept)."""
    source = SymbolDB(str(db))
    objects = []
    for obj in source.objects():
        rows = edit(obj, [r for r in source if r.obj == obj])
        meta = source.object_meta(obj)
        objects.append(ObjectSymbols(
            name=obj, label=meta.get("path", obj),
            kind="vmlinux" if obj == "vmlinux" else "module", arch=source.arch, meta=meta,
            names=[r.name.encode() for r in rows], letters=[r.letter.encode() for r in rows],
            infos=[BIND_NAMES.index(r.bind.encode()) << 4 | TYPE_NAMES.index(r.type.encode())
                   for r in rows],
            sizes=[r.size or 0 for r in rows], sections=[r.section.encode() for r in rows],
            values=[r.value or 0 for r in rows], files=[r.file.encode() for r in rows],
            exported={r.name.encode() for r in rows if r.exported}))
    pathlib.Path(write(out.parent, objects).path).rename(out)
    return out
