"""Fuzz target: the symbols.klp reader, in both dialects (docs/symbols-klp.md).

Seeds are databases of the sample kernels (testdata/), built with klp's own API in
both dialects and cached. The mutations know the format: index entries, the
bucket directory, the object table, the ``#index`` and ``#end`` lines, offsets,
``*object`` and ``%meta`` lines, field separators, escapes and huge numbers; one
of them damages the body and writes a valid index for it, so that the record
checks are reached too. ``run`` uses the reader as the commands do. Only a
KlpError may escape it; what the commands would print must be shown text
(strict UTF-8, no control characters), and a lookup's records of an object must
be that object's records in the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import tempfile
import zlib
from array import array
from collections import defaultdict
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.writer import write_atomic, write_bytes_atomic
from klp.symdb.build import build
from klp.symdb.format import (
    HEADER,
    UPSTREAM_HEADER,
    Assembler,
    EncodedObject,
    SymbolDB,
    unescape,
)
from klp.symdb.model import Dialect, SymbolRecord
from klp.symdb.query import print_json, print_table, query, to_json
from klp.symdb.scan import scan_module
from klp.symdb.sources import find_sources
from tests.fuzz.engine import Target
from tests.support.paths import ARCHES, ROOT, TESTDATA

ENTRY, BUCKET = 17, 9  #: index line lengths: 16 or 8 hex digits and a newline
OFFSET_BITS = 40
#: Names of the odd-names seed module; the last two only the klp dialect can hold.
ODD_NAMES = ["tab\there", "cr\rname", "sp ace", "back\\slash", "\\lead", "[bold]b", "a[/]",
             "caf\u00e9", "bad\udcff\udcfe", "%pct", "#hash", "esc\x1b[31m", "new\nline",
             "*star"]
#: Looked up in every input besides names taken from it.
ABSENT = ["", "no_such_symbol", "a[/]x", "*vmlinux", "x\ny", "\udcff", "\ud800"]
#: Control characters that shown text never has (the newline ends lines).
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


# -- seeds -----------------------------------------------------------------------------


def _inputs_digest() -> str:
    """What the seeds depend on: this file, klp's symdb sources, the sample kernels."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted((ROOT / "klp" / "symdb").glob("*.py")):
        digest.update(path.read_bytes())
    for arch in ARCHES:
        for path in sorted((TESTDATA / arch).rglob("*")):
            if path.is_file():
                stat = path.stat()
                digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _odd_module(folder: Path, names: list[str]) -> Path:
    """The x86_64 sample module with symbols the loader keeps renamed to ``names``."""
    elf = ElfFile.open(TESTDATA / "x86_64" / "modules" / "fixture-mod.ko")
    table = elf.symtab
    kept = {n.decode() for n in scan_module(elf, "fixture-mod.ko").names}
    renamed = [i for i in range(1, len(table)) if table.name(i) in kept]
    for i, name in zip(renamed, names, strict=False):
        elf.rename_symbol(i, name)
    path = folder / f"odd-{len(names)}.ko"
    write_atomic(elf, str(path))
    return path


def _seed_inputs(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """(dialect, find_sources arguments) of every seed."""
    runs: list[tuple[str, dict[str, Any]]] = []
    for arch in ARCHES:
        t = TESTDATA / arch
        sources = {"vmlinux": str(t / "vmlinux"), "modules_dir": str(t / "modules"),
                   "symvers": str(t / "Module.symvers")}
        runs += [(fmt, sources) for fmt in Dialect]
    x86 = TESTDATA / "x86_64"
    runs.append(("klp", {"system_map": str(x86 / "System.map"),
                         "modules_dir": str(x86 / "modules")}))
    runs.append(("klp", {"vmlinux": str(x86 / "vmlinux"),
                         "paths": [str(_odd_module(folder, ODD_NAMES))]}))
    runs.append(("klp-convert-0.1", {"paths": [str(_odd_module(folder, ODD_NAMES[:-2]))]}))
    return runs


@cache
def seeds() -> list[bytes]:
    """The seed databases, built once for each version of klp's symdb code and of the
    sample kernels (in the temporary folder)."""
    folder = Path(tempfile.gettempdir()) / "klp-fuzz-symdb" / _inputs_digest()
    done = folder / "count"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        runs = _seed_inputs(folder)
        for n, (fmt, arguments) in enumerate(runs):
            write_bytes_atomic(str(folder / f"{n}.klp"),
                               build(find_sources(**arguments), jobs=1, fmt=fmt).data)
        write_bytes_atomic(str(done), b"%d" % len(runs))
    return [(folder / f"{n}.klp").read_bytes() for n in range(int(done.read_text()))]


# -- the layout of a (maybe damaged) klp-format file -------------------------------------


@dataclass
class Layout:
    """Where the parts of a klp-format file are, as far as its #index line tells."""

    index: int  #: offset of the #index line
    base: int  #: offset of the first *object line
    starts_at: int
    buckets_at: int
    entries_at: int
    end_at: int  #: offset of the #end line

    @classmethod
    def of(cls, data: bytes) -> Layout | None:
        index = data.rfind(b"\n#index\t") + 1
        line_end = data.find(b"\n", index)
        end_at = data.rfind(b"\n#end\t") + 1
        fields = data[index:line_end].split(b"\t")
        if not index or line_end < 0 or end_at <= index or len(fields) != 5 \
                or not all(f.isdigit() and len(f) < 20 for f in fields[1:]):
            return None
        bits, objects, _, base = (int(f) for f in fields[1:])
        if bits > 24 or base > index:
            return None
        starts_at = line_end + 1
        buckets_at = starts_at + objects * ENTRY
        return cls(index, base, starts_at, buckets_at,
                   buckets_at + ((1 << bits) + 1) * BUCKET, end_at)

    def line_starts(self, data: bytes) -> list[int]:
        """Offsets of the symbol lines (and other lines) of the objects."""
        return [m.start() + 1 for m in re.finditer(b"\n", data[: self.index - 1])
                if m.start() + 1 >= self.base]


def _hex_line_at(rng: random.Random, data: bytes, start: int, stop: int, width: int
                 ) -> int | None:
    """A random line of ``width`` hex digits between ``start`` and ``stop``."""
    size = width + 1
    count = (min(stop, len(data)) - start) // size
    return start + rng.randrange(count) * size if count > 0 else None


def _replace(data: bytes, at: int, length: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + length :]


def _huge(rng: random.Random) -> bytes:
    """A number past any offset or count (5,000 digits is past int()'s limit too)."""
    return rng.choice([b"%d" % 2**63, b"%d" % 2**64, b"1" + b"0" * 40, b"9" * 5000,
                       b"1" + b"0" * 4299])


def _hex_value(rng: random.Random, data: bytes, layout: Layout, old: bytes, width: int
               ) -> bytes:
    """Another hex line value: random, edges, a real offset, a flipped bit, not hex."""
    old_value = int(old, 16) if re.fullmatch(rb"[0-9a-f]+", old) else 0
    starts = layout.line_starts(data)
    choice = rng.randrange(8)
    if choice == 0:
        value = rng.randrange(1 << (4 * width))
    elif choice == 1:
        value = rng.choice([0, 1, (1 << (4 * width)) - 1, 1 << (4 * width - 1),
                            (1 << (4 * width - 1)) - 1])
    elif choice == 2 and starts:  # another line, keeping the hash bits
        value = old_value >> OFFSET_BITS << OFFSET_BITS | (rng.choice(starts) - layout.base)
    elif choice == 3:
        value = old_value ^ 1 << rng.randrange(4 * width)
    elif choice == 4:
        value = old_value + rng.choice([-2, -1, 1, 2])
    elif choice == 5:
        digits = bytearray(old)
        digits[rng.randrange(len(digits))] = rng.choice(b"gxG +-_\t\n\xff")
        return bytes(digits)
    elif choice == 6:
        return old.upper() if old.upper() != old else b" " + old[1:]
    else:
        value = old_value & ~((1 << OFFSET_BITS) - 1) | rng.randrange(len(data) + 64)
    return b"%0*x" % (width, value % (1 << (4 * width)))


# -- mutations of the klp dialect -----------------------------------------------------------

Mutation = Callable[[random.Random, bytes], bytes | None]


def _index_table_line(start: Callable[[Layout], int], stop: Callable[[Layout], int],
                      width: int) -> Mutation:
    """Damage one line of an index table (entries, buckets, object starts)."""
    def mutate(rng: random.Random, data: bytes) -> bytes | None:
        layout = Layout.of(data)
        if layout is None:
            return None
        at = _hex_line_at(rng, data, start(layout), stop(layout), width)
        if at is None:
            return None
        if rng.random() < 0.2:  # copy or swap with another line of the table
            other = _hex_line_at(rng, data, start(layout), stop(layout), width)
            assert other is not None
            first, second = data[at : at + width], data[other : other + width]
            data = _replace(data, at, width, second)
            return _replace(data, other, width, first) if rng.random() < 0.5 else data
        return _replace(data, at, width, _hex_value(rng, data, layout, data[at : at + width],
                                                    width))
    return mutate


def _index_header(rng: random.Random, data: bytes) -> bytes | None:
    """One number of the #index line: off by one, zero, huge, signed, spaced, or a field
    more or less."""
    layout = Layout.of(data)
    if layout is None:
        return None
    line_end = data.index(b"\n", layout.index)
    fields = data[layout.index : line_end].split(b"\t")
    i = rng.randrange(1, len(fields))
    value = int(fields[i])
    fields[i] = rng.choice([b"%d" % (value + rng.choice([-1, 1])), b"0", _huge(rng),
                            b"+%d" % value, b" %d" % value, b"%d_0" % value, b"-1",
                            b"%d" % rng.randrange(64)])
    if rng.random() < 0.1:
        fields.pop() if rng.random() < 0.5 else fields.append(b"0")
    return _replace(data, layout.index, line_end - layout.index, b"\t".join(fields))


def _end_line(rng: random.Random, data: bytes) -> bytes | None:
    """The #end offset: off by one, another line, past 2^63, not hex; or the line cut."""
    layout = Layout.of(data)
    if layout is None:
        return None
    at = layout.end_at + len(b"#end\t")
    if rng.random() < 0.15:
        return data[: rng.randrange(layout.end_at, len(data))] + rng.choice([b"", b"\n", b"x"])
    new = _hex_value(rng, data, layout, data[at : at + 16], 16)
    if rng.random() < 0.3:
        new = b"%016x" % rng.choice([*layout.line_starts(data), layout.index])
    return _replace(data, at, 16, new)


def _symbol_lines(data: bytes, layout: Layout) -> list[tuple[int, int]]:
    """(start, end) of the symbol lines."""
    found = []
    for start in layout.line_starts(data):
        end = data.find(b"\n", start)
        if data[start : start + 1] not in (b"*", b"%", b"#") and end > start:
            found.append((start, end))
    return found


def _field(rng: random.Random, data: bytes) -> bytes | None:
    """One field of a symbol line: another number (of the same length, so offsets hold,
    or not), a huge or signed one, ``?``, an escape, a separator more or less."""
    layout = Layout.of(data)
    lines = _symbol_lines(data, layout) if layout else []
    if not lines:
        return None
    start, end = rng.choice(lines)
    fields = data[start:end].split(b"\t")
    i = rng.randrange(len(fields))
    old = fields[i]
    choice = rng.randrange(9)
    if choice == 0 and old.isdigit():  # the same length: the index stays valid
        fields[i] = (b"%0*d" % (len(old), rng.randrange(10 ** len(old))))[-len(old) :]
    elif choice == 1:
        fields[i] = rng.choice([_huge(rng), b"0", b"-1", b"+1", b"1_0", b" 1", b"?", b"", b"E",
                                b"1/0", b"2/1", b"1/2/3", b"0/0", b"%d/%d" % (
                                    rng.randrange(1, 4), rng.randrange(1, 4))])
    elif choice == 2:
        fields[i] = old + rng.choice([b"\\", b"\\t", b"\\n", b"\\x", b"\\\\", b"[/]",
                                      b"\xff", b"\r", b"\x1b"])
    elif choice == 3:
        fields.insert(i, b"") if rng.random() < 0.5 else fields.pop(i)
    elif choice == 4 and i == 0:  # a marker or backslash in front of the name
        fields[0] = rng.choice([b"*", b"%", b"#", b"\\", b"\\\\"]) + old
    elif choice == 5:  # another line's field of the same place
        other_start, other_end = rng.choice(lines)
        other = data[other_start:other_end].split(b"\t")
        if i < len(other):
            fields[i] = other[i]
    elif choice == 6:  # the position of another same-named line
        fields[1:3] = fields[2:3] + fields[1:2] if len(fields) > 2 else fields[1:3]
    elif choice == 7:
        fields[i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
    else:
        fields[i] = old[: rng.randrange(len(old) + 1)]
    return _replace(data, start, end - start, b"\t".join(fields))


def _structure_line(rng: random.Random, data: bytes) -> bytes | None:
    """A ``*object`` or ``%meta`` line damaged, moved, doubled or dropped; or a line
    of either kind where symbol lines are."""
    layout = Layout.of(data)
    if layout is None:
        return None
    starts = [s for s in layout.line_starts(data) if data[s : s + 1] in (b"*", b"%")]
    header = [m.start() + 1 for m in re.finditer(b"\n%", data[: layout.base])]
    starts += header
    if not starts:
        return None
    start = rng.choice(starts)
    end = data.index(b"\n", start) + 1
    line = data[start:end]
    choice = rng.randrange(7)
    if choice == 0:
        return _replace(data, start, end - start, b"")
    if choice == 1:
        return _replace(data, start, 0, line)
    if choice == 2:  # the tab or the marker lost
        return _replace(data, start, end - start, line.replace(b"\t", b"", 1)
                        if rng.random() < 0.5 else b"x" + line[1:])
    if choice == 3:  # among the symbol lines
        lines = _symbol_lines(data, layout)
        if lines:
            at = rng.choice(lines)[0]
            return _replace(data, at, 0, rng.choice([line, b"%x\ty\n", b"*vmlinux\n",
                                                     b"#index\t1\t1\t1\t1\n"]))
        return None
    if choice == 4:  # a same-length rename (another object's name, maybe)
        if len(line) > 2:
            body = bytearray(line)
            body[rng.randrange(1, len(line) - 1)] = rng.choice(b"ab_\\\t[]*%#\xff")
            return _replace(data, start, end - start, bytes(body))
        return None
    if choice == 5:
        return _replace(data, start, end - start, line[:-1] + rng.choice(
            [b"\\", b"\\t", b"\t", b"\r", b"[/]"]) + b"\n")
    return _replace(data, start, end - start, b"*vmlinux\n")


def _lines(rng: random.Random, data: bytes) -> bytes | None:
    """A line dropped, doubled or two swapped, anywhere (so mostly the offsets move)."""
    starts = [0] + [m.start() + 1 for m in re.finditer(b"\n", data[:-1])]
    a, b = sorted(rng.sample(starts, 2)) if len(starts) > 1 else (0, 0)
    a_end, b_end = data.find(b"\n", a) + 1 or len(data), data.find(b"\n", b) + 1 or len(data)
    choice = rng.randrange(3)
    if choice == 0:
        return data[:a] + data[a_end:]
    if choice == 1:
        return data[:a] + data[a:a_end] + data[a:]
    if a_end > b:
        return None
    return data[:a] + data[b:b_end] + data[a_end:b] + data[a:a_end] + data[b_end:]


def _reindexed(data: bytes) -> bytes | None:
    """``data``'s header and objects with a fresh index, as klp's writer makes one."""
    layout = Layout.of(data)
    if layout is None or not data.startswith(HEADER + b"\n") or layout.base < len(HEADER) + 1:
        return None
    meta = {}
    for line in data[len(HEADER) + 1 : layout.base].split(b"\n")[:-1]:
        key, _, value = line[1:].partition(b"\t")
        meta[unescape(key).decode("utf-8", "surrogateescape")] = unescape(value).decode(
            "utf-8", "surrogateescape")
    body = data[layout.base : layout.index]
    chunks = [m.start() for m in re.finditer(rb"(?:^|(?<=\n))\*", body)]
    if not chunks or chunks[0] != 0:
        return None
    asm = Assembler(body.count(b"\n"))
    for start, end in zip(chunks, [*chunks[1:], len(body)], strict=True):
        chunk = body[start:end]
        keys = array("Q")
        pos = 0
        for line in chunk.split(b"\n")[:-1]:
            if line[:1] not in (b"*", b"%", b"#"):
                keys.append(zlib.crc32(line.split(b"\t", 1)[0]) >> 8 << OFFSET_BITS | pos)
            pos += len(line) + 1
        asm.add(EncodedObject(name="", label="", kind="module", arch="", meta={}, chunk=chunk,
                              keys=keys.tobytes(), symbols=len(keys), repeated=0, load_order=0))
    return asm.finish(meta)


def _body_then_index(rng: random.Random, data: bytes) -> bytes | None:
    """Damage the objects' lines, then write a valid index for them: the reader must
    find the damage in the records themselves."""
    damaged = rng.choice([_field, _structure_line, _field])(rng, data)
    return _reindexed(damaged) if damaged is not None else None


KLP_MUTATIONS: list[Mutation] = [
    _index_table_line(lambda lay: lay.entries_at, lambda lay: lay.end_at, 16),
    _index_table_line(lambda lay: lay.entries_at, lambda lay: lay.end_at, 16),
    _index_table_line(lambda lay: lay.buckets_at, lambda lay: lay.entries_at, 8),
    _index_table_line(lambda lay: lay.starts_at, lambda lay: lay.buckets_at, 16),
    _index_header, _end_line, _field, _structure_line, _lines,
    _body_then_index, _body_then_index, _body_then_index,
]


# -- mutations of the klp-convert-0.1 dialect -------------------------------------------------


def _upstream_line(rng: random.Random, data: bytes) -> bytes | None:
    """A name changed (escapes, CR, tab, markup, bytes >= 0x80, a leading marker), an
    object line added, a line dropped or doubled, blank lines, no final newline."""
    starts = [m.start() + 1 for m in re.finditer(b"\n", data[:-1])]
    if not starts:
        return data + b"\n*vmlinux\nx\n"
    at = rng.choice(starts)
    end = data.find(b"\n", at)
    end = len(data) if end < 0 else end
    choice = rng.randrange(7)
    if choice == 0:
        return _replace(data, at, end - at, data[at:end] + rng.choice(
            [b"\r", b"\t", b"\\", b"\\t", b"[/]", b"\xff", b" "]))
    if choice == 1:
        return _replace(data, at, 0, rng.choice([b"*", b"%", b"#", b"\\", b"\n", b"*x\n"]))
    if choice == 2:
        return _replace(data, at, 0, b"*" + rng.choice([b"vmlinux", b"fixture_mod", b"",
                                                         b"[bold]", b"\xff"]) + b"\n")
    if choice == 3:
        return data[:at] + data[end + 1 :]
    if choice == 4:
        return _replace(data, at, 0, data[at : end + 1])
    if choice == 5:
        return data.rstrip(b"\n") if data.endswith(b"\n") else data + b"\n\n"
    return _replace(data, 0, data.find(b"\n"), rng.choice(
        [UPSTREAM_HEADER, UPSTREAM_HEADER + b" x", UPSTREAM_HEADER[:-1], HEADER]))


def mutate(rng: random.Random, data: bytes) -> bytes:
    """A structure-aware mutation; ``data`` unchanged when none applies."""
    mutations = KLP_MUTATIONS if data.startswith(HEADER + b"\n") else [_upstream_line, _lines]
    for _ in range(4):
        new = rng.choice(mutations)(rng, data)
        if new is not None:
            return new
    return data


# -- running one input ----------------------------------------------------------------


def _names_in(data: bytes) -> list[str]:
    """Names in the file (first fields of its lines), a few of them, spread out."""
    lines = [ln for ln in data.split(b"\n")[1:] if ln and ln[:1] not in (b"*", b"%", b"#")]
    picked = lines[:: max(1, len(lines) // 5)][:5] + lines[-2:]
    if data.startswith(HEADER + b"\n"):
        return [unescape(ln.split(b"\t", 1)[0]).decode("utf-8", "surrogateescape")
                for ln in picked]
    return [ln.decode("utf-8", "surrogateescape") for ln in picked]


def check_shown(text: str) -> None:
    """Printed text is escaped: nothing a strict UTF-8 stream refuses, no controls."""
    text.encode("utf-8")
    bad = CONTROL.search(text)
    if bad:
        raise AssertionError(f"unescaped {bad.group()!r} in printed text")


def _check_against_file(found: dict[str, list[SymbolRecord]],
                        records: list[SymbolRecord]) -> None:
    """A lookup's records of a name in an object are all that object's records of it."""
    in_file: dict[tuple[str, str], list[SymbolRecord]] = defaultdict(list)
    for record in records:
        in_file[record.name, record.obj].append(record)
    for name, recs in found.items():
        by_object: dict[str, list[SymbolRecord]] = defaultdict(list)
        for record in recs:
            by_object[record.obj].append(record)
        for obj, mine in by_object.items():
            if mine != in_file[name, obj]:
                raise AssertionError(f"lookup of {name!r} in {obj!r}: {mine} but the file "
                                     f"has {in_file[name, obj]}")


def run(data: bytes, scratch: Path) -> None:
    """Everything the commands do with a symbols.klp."""
    path = scratch / "symbols.klp"
    path.write_bytes(data)
    db = SymbolDB(str(path))
    fresh = SymbolDB(str(path))  # membership read lazily, then against the whole table
    for obj in db.objects()[:8]:
        if not fresh.has_object(obj):
            raise AssertionError(f"has_object({obj!r}) is false for a listed object")
        db.object_meta(obj)
        db.shared_call_sites(obj)
    if db.has_object(ABSENT[0]) != (ABSENT[0] in db.objects()):
        raise AssertionError(f"has_object({ABSENT[0]!r}) disagrees with the object list")
    names = [*_names_in(data), *ABSENT]
    found = query(db, names)
    db.closest(names[0], 3)
    records = list(db)
    _check_against_file({n: r for n, r in found.items() if r}, records)
    json.dumps(to_json(str(path), db, found))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        print_json(str(path), db, found)
        print_table(str(path), db, found)
    check_shown(err.getvalue())
    check_shown(out.getvalue())


TARGET = Target(name="symdb", seeds=seeds, run=run, mutate=mutate)
