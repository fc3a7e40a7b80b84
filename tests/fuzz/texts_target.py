"""Fuzz target: the kernel's text files klp reads (System.map, a ``/proc/kallsyms``
dump, Module.symvers, modules.builtin) and the sysfs files beside them (notes,
srcversion).

A user hands these over from a build or a running system, so every byte is as
untrusted as an ELF file's. The seeds are testdata's System.map and Module.symvers,
a kallsyms dump of the x86_64 sample kernel, a modules.builtin and vmlinux's notes
(as /sys/kernel/notes shows them, in either byte order). Each input is
read as every kind, as the commands read it: a symbol database built from it
(``--system-map``, with and without ``--vmlinux``; ``--symvers``) must be one klp's
reader accepts, and ``klp verify --kallsyms`` checks a converted livepatch against
it. The mutations work on lines and fields.
"""

from __future__ import annotations

import io
import random
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from klp.convert import api
from klp.elfcodec.elffile import ElfFile
from klp.errors import KlpError
from klp.render import print_json
from klp.symdb.build import build
from klp.symdb.format import SymbolDB
from klp.symdb.sources import find_sources, read_builtin
from klp.symvers import read_symvers
from klp.verify.check import verify_module
from klp.verify.kallsyms import KallsymsLookup, running_identity
from klp.verify.report import render, report
from tests.fuzz.engine import Target
from tests.fuzz.symdb_target import check_shown
from tests.support.paths import TESTDATA
from tests.support.symdb import build as build_sample

X86 = TESTDATA / "x86_64"
#: Looked up in every input, beside what the files name.
NAMES = ("fixture_state", "fixture_mod_nonexp", "mod_value", "fixture_helper", "")
#: Field values that parsers trip over.
ODD_FIELDS = (b"", b"0", b"-1", b"0x10", b"f" * 17, b"9" * 40, b"[x]", b"a[/]", b"\x1b[31m",
              b"\t", b"caf\xc3\xa9", b"\xff\xfe", b"a" * 600, b"*vmlinux", b"%arch", b"#end",
              b"[fixture_mod]", b"\t[]", b"vmlinux", b"EXPORT_SYMBOL_GPL", b"t", b"T", b"?")

#: The converted x86_64 livepatch that verify checks against each kallsyms input.
_PATCH: list[Path] = []


def seeds() -> list[bytes]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        db = build_sample("x86_64", Path(tmp))
        dump = b"".join(
            b"%016x %s %s%s\n" % (r.value or 0, r.letter.encode(), r.name.encode(),
                                  b"" if r.obj == "vmlinux" else b"\t[%s]" % r.obj.encode())
            for r in SymbolDB(str(db)))
    return [(X86 / "System.map").read_bytes(), (TESTDATA / "s390x" / "System.map").read_bytes(),
            (X86 / "Module.symvers").read_bytes(), dump,
            b"kernel/fs/ext4/ext4.ko\nkernel/lib/crc16.ko\nkernel/fs/binfmt_misc.ko\n",
            *(bytes(notes.raw()) for arch in ("x86_64", "s390x")
              if (notes := ElfFile.open(TESTDATA / arch / "vmlinux").find_section(".notes"))
              is not None)]


def setup(folder: Path) -> None:
    patch = folder / "patch.ko"
    if not patch.exists():
        db = build_sample("x86_64", folder)
        api.convert_module(X86 / "livepatch-fixture.ko", output=patch, symdb=db,
                           symvers=X86 / "Module.symvers", verify=False)
    _PATCH[:] = [patch]


def run(data: bytes, scratch: Path) -> None:
    """Read ``data`` as each kind of file; only a KlpError may escape, raised when no
    kind but modules.builtin reads it (counted as refused, not clean)."""
    text = scratch / "input"
    text.write_bytes(data)
    (scratch / "modules.builtin").write_bytes(data)
    refused: KlpError | None = None
    read_as_one = False
    for read in (_system_map, _with_vmlinux, _symvers, _kallsyms, _builtin, _sysfs):
        try:
            read(str(text), scratch)
            # any text is a list, and any bytes notes with or without a build ID
            read_as_one = read_as_one or read not in (_builtin, _sysfs)
        except KlpError as e:
            refused = refused or e
    if refused is not None and not read_as_one:
        raise refused


def _accepted(data: bytes, scratch: Path) -> None:
    """A database klp built is one its reader accepts, whole."""
    path = scratch / "out.klp"
    path.write_bytes(data)
    db = SymbolDB(str(path))
    sum(1 for _ in db)
    db.lookup(NAMES)


def _system_map(path: str, scratch: Path) -> None:
    found = find_sources(system_map=path, modules_dir=str(X86 / "modules"))
    _accepted(build(found, jobs=1).data, scratch)


def _with_vmlinux(path: str, scratch: Path) -> None:
    found = find_sources(vmlinux=str(X86 / "vmlinux"), system_map=path, symvers=path,
                         paths=[str(X86 / "modules" / "fixture-mod.ko")])
    _accepted(build(found, jobs=1).data, scratch)


def _symvers(path: str, scratch: Path) -> None:
    read_symvers(path)
    read_symvers(path, NAMES)


def _kallsyms(path: str, scratch: Path) -> None:
    """What ``klp verify --kallsyms`` does, its report printed both ways."""
    lookup = KallsymsLookup(path, str(X86 / "modules"), {"vmlinux", "fixture_mod"})
    lookup.lookup(NAMES)
    verdict = verify_module(ElfFile.open(_PATCH[0]), lookup)
    doc = report(str(_PATCH[0]), {"kind": "kallsyms", "path": path, "release": ""}, verdict)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        print_json(doc)
        render(doc)
    check_shown(out.getvalue().replace("\t", " "))  # the plain form's field separator
    check_shown(err.getvalue())


def _builtin(path: str, scratch: Path) -> None:
    read_builtin(scratch)


def _sysfs(path: str, scratch: Path) -> None:
    """The input as vmlinux's and a module's notes and srcversion in a copy of /sys."""
    sysfs = scratch / "sys"
    module = sysfs / "module" / "fixture_mod"
    (module / "notes").mkdir(parents=True, exist_ok=True)
    (sysfs / "kernel").mkdir(exist_ok=True)
    data = Path(path).read_bytes()
    for copy in (sysfs / "kernel" / "notes", module / "notes" / ".note.gnu.build-id",
                 module / "srcversion"):
        copy.write_bytes(data)
    for little in (True, False):
        for meta in running_identity(sysfs, ["vmlinux", "fixture_mod"], little, []).values():
            if set(meta.get("build-id", "")) - set("0123456789abcdef"):
                raise AssertionError(f"a build ID that is not hex: {meta}")


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One line-level edit: drop, repeat, move or cut a line, or change one field."""
    lines = data.split(b"\n")
    at = rng.randrange(len(lines))
    kind = rng.randrange(6)
    if kind == 0:
        del lines[at]
    elif kind == 1:
        lines.insert(at, lines[rng.randrange(len(lines))])
    elif kind == 2:
        other = rng.randrange(len(lines))
        lines[at], lines[other] = lines[other], lines[at]
    elif kind == 3:
        lines[at] = lines[at][: rng.randrange(len(lines[at]) + 1)]
    else:
        separator = b"\t" if b"\t" in lines[at] and rng.random() < 0.5 else b" "
        fields = lines[at].split(separator)
        fields[rng.randrange(len(fields))] = rng.choice(ODD_FIELDS)
        lines[at] = separator.join(fields)
    return b"\n".join(lines)


TARGET = Target("texts", seeds, run, mutate, setup)
