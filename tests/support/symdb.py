"""Symbol databases for tests: of a bundled sample kernel, or of hand-made objects."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

from klp.symdb.format import Assembler, SymbolDB, assemble, encode_object, header_meta
from klp.symdb.model import ObjectSymbols, SymbolRecord
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
    database of another build would have them."""
    source = SymbolDB(str(db))
    objects = [ObjectSymbols.from_records(edit(obj, [r for r in source if r.obj == obj]),
                                          name=obj, arch=source.arch,
                                          meta=source.object_meta(obj))
               for obj in source.objects()]
    pathlib.Path(write(out.parent, objects).path).rename(out)
    return out


def kallsyms_dump(db: pathlib.Path, path: pathlib.Path, *, loaded: bool = True,
                  hidden: bool = False) -> pathlib.Path:
    """A /proc/kallsyms as the sample kernel would show it, with fixture_mod loaded at
    0xffffffffa0000000 (sections one page apart) or not loaded."""
    lines, sections = [], {}
    for r in SymbolDB(str(db)):
        if r.obj == "vmlinux":
            lines.append(f"{0 if hidden else r.value:016x} {r.letter} {r.name}")
        elif loaded:
            base = 0xFFFFFFFFA0000000 + 0x1000 * sections.setdefault(r.section, len(sections))
            lines.append(f"{base + (r.value or 0):016x} {r.letter} {r.name}\t[{r.obj}]")
    path.write_text("\n".join(lines) + "\n")
    return path


def respun(db: pathlib.Path, folder: pathlib.Path, name: str) -> pathlib.Path:
    """The database of a rebuild that put vmlinux's copies of ``name`` in the other
    order (their positions swap; everything else stays)."""
    def swap(obj: str, rows: list[SymbolRecord]) -> list[SymbolRecord]:
        at = [i for i, r in enumerate(rows) if r.name == name and obj == "vmlinux"]
        if at:
            rows[at[0]], rows[at[-1]] = rows[at[-1]], rows[at[0]]
        return rows

    return rewritten(db, folder / f"respun-{name}.klp", swap)
