"""Damaged symbols.klp files: each damage is an InputError that names an offset (exit 3),
never a Python exception and never a partial answer.

The damage is placed with the layout docs/symbols-klp.md documents, not with the
reader's internals.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import zlib
from dataclasses import dataclass

import pytest

from klp.errors import InputError
from klp.symdb.format import SymbolDB
from tests.support.cli import klp
from tests.support.paths import TESTDATA
from tests.support.symdb import obj, write

ENTRY, BUCKET = 17, 9


@dataclass
class Layout:
    """Where the parts of a klp-format file are, from its #index line."""

    data: bytearray
    bits: int
    objects: int
    entries: int
    base: int
    index: int

    @classmethod
    def of(cls, data: bytes) -> Layout:
        index = int(data[-17:-1], 16)
        line = data[index : data.index(b"\n", index)].split(b"\t")
        bits, objects, entries, base = map(int, line[1:])
        return cls(bytearray(data), bits, objects, entries, base, index)

    @property
    def starts_at(self) -> int:
        return self.data.index(b"\n", self.index) + 1

    @property
    def buckets_at(self) -> int:
        return self.starts_at + self.objects * ENTRY

    @property
    def entries_at(self) -> int:
        return self.buckets_at + ((1 << self.bits) + 1) * BUCKET

    def entry_at(self, e: int) -> int:
        return self.entries_at + e * ENTRY

    def entry(self, e: int) -> int:
        return int(self.data[self.entry_at(e) : self.entry_at(e) + 16], 16)

    def set_entry(self, e: int, key: int) -> None:
        self.data[self.entry_at(e) : self.entry_at(e) + 16] = b"%016x" % key

    def entries_of(self, name: bytes) -> list[int]:
        """The index entries that point at lines of ``name``, in index order."""
        found = []
        for e in range(self.entries):
            offset = (self.entry(e) & (1 << 40) - 1) + self.base
            if self.data[offset : offset + len(name) + 1] == name + b"\t":
                found.append(e)
        return found

    def line_of(self, name: bytes, nth: int = 0) -> int:
        return [m.start() for m in re.finditer(rb"^%s\t" % re.escape(name), self.data,
                                               re.M)][nth]

    def save(self, path: pathlib.Path) -> str:
        path.write_bytes(bytes(self.data))
        return str(path)


@pytest.fixture
def small(tmp_path: pathlib.Path) -> Layout:
    """Three modules; ``shared`` twice in each, ``once`` once in m1."""
    db = write(tmp_path, [obj(f"m{i}", [b"shared", b"a%d" % i, b"shared", b"b%d" % i])
                          for i in range(3)] + [obj("m3", [b"once"])])
    return Layout.of(bytes(db.data[:]))


def damaged(path: str, offset: int | None = None) -> pytest.RaisesContext[InputError]:
    where = rf".*at offset {offset}\b" if offset is not None else ""
    return pytest.raises(InputError, match=rf"{re.escape(path)}: damaged symbols.klp \({where}"
                                           r".*\); rebuild it")


def use(path: str) -> None:
    """Everything a reader offers."""
    db = SymbolDB(path)
    db.lookup(["shared", "once", "a1", "nothing"])
    db.objects()
    db.object_meta("m1")
    list(db)


# -- the trailer, the #index line, the tables ----------------------------------------


def test_end_offset_beyond_any_file(small: Layout, tmp_path: pathlib.Path) -> None:
    """An offset of 2^63 or more in #end (it overflowed the slice: OverflowError)."""
    small.data[-17:-1] = b"ffffffffffffffff"
    with damaged(small.save(tmp_path / "d.klp")):
        SymbolDB(str(tmp_path / "d.klp"))


@pytest.mark.parametrize("line", [
    b"#index\t+4\t4\t13\t%d", b"#index\t4\t 4\t13\t%d", b"#index\t4\t4\t1_3\t%d",
    b"#index\t40\t4\t13\t%d", b"#index\t4\t4\t13\t%d\t", b"#index\t4\t4\t12\t%d",
])
def test_bad_index_line(line: bytes, small: Layout, tmp_path: pathlib.Path) -> None:
    end = small.data.index(b"\n", small.index)
    small.data[small.index : end] = line % small.base
    with damaged(small.save(tmp_path / "d.klp")):
        use(str(tmp_path / "d.klp"))


@pytest.mark.parametrize("start", [b"000000000000004g", b"7fffffffffffffff",
                                   b"8000000000000000", b"ffffffffffffffff", b"0000000000000001"])
def test_bad_object_start(start: bytes, small: Layout, tmp_path: pathlib.Path) -> None:
    """Object start lines with a non-hex digit (ValueError), past the file (2^63 and
    more: OverflowError), or not at a ``*`` line."""
    at = small.starts_at + ENTRY
    small.data[at : at + 16] = start
    with damaged(small.save(tmp_path / "d.klp"), at):
        use(str(tmp_path / "d.klp"))


def test_object_starts_out_of_order(small: Layout, tmp_path: pathlib.Path) -> None:
    first, second = small.starts_at + ENTRY, small.starts_at + 2 * ENTRY
    small.data[first:second], small.data[second : second + ENTRY] = (
        small.data[second : second + ENTRY], small.data[first:second])
    with damaged(small.save(tmp_path / "d.klp"), second):
        use(str(tmp_path / "d.klp"))


def test_non_hex_index_entry(small: Layout, tmp_path: pathlib.Path) -> None:
    """The fuzz campaign's most common finding (ValueError in the lookup)."""
    e = small.entries_of(b"shared")[1]
    small.data[small.entry_at(e) + 5] = ord("x")
    with damaged(small.save(tmp_path / "d.klp"), small.entry_at(e)):
        SymbolDB(str(tmp_path / "d.klp")).lookup(["shared"])


@pytest.mark.parametrize("where", ["mid-line", "index", "huge", "header", "object line"])
def test_entry_offset_not_at_a_symbol_line(where: str, small: Layout,
                                           tmp_path: pathlib.Path) -> None:
    e = small.entries_of(b"shared")[2]
    line = (small.entry(e) & (1 << 40) - 1) + small.base
    target = {"mid-line": line + 3, "index": small.index, "huge": (1 << 40) - 1,
              "header": 0, "object line": small.data.index(b"\n*m1\n") + 1}[where]
    small.set_entry(e, small.entry(e) >> 40 << 40 | (target - small.base) % (1 << 40))
    with damaged(small.save(tmp_path / "d.klp"), small.entry_at(e)):
        SymbolDB(str(tmp_path / "d.klp")).lookup(["shared"])


def test_bucket_directory(small: Layout, tmp_path: pathlib.Path) -> None:
    bucket = zlib.crc32(b"shared") >> (32 - small.bits)
    at = small.buckets_at + (bucket + 1) * BUCKET
    for bad in (b"%08x" % (small.entries + 1), b"0000000z", b"%08x" % 0):
        small.data[at : at + 8] = bad
        with damaged(small.save(tmp_path / "d.klp")):
            SymbolDB(str(tmp_path / "d.klp")).lookup(["shared"])


def test_bucket_directory_must_cover_the_entries(small: Layout, tmp_path: pathlib.Path) -> None:
    at = small.entries_at - BUCKET  # the last line: the total
    small.data[at : at + 8] = b"%08x" % (small.entries - 1)
    with damaged(small.save(tmp_path / "d.klp"), at):
        SymbolDB(str(tmp_path / "d.klp"))


# -- lookups are complete and consistent ---------------------------------------------


def test_entry_pointing_at_another_name(small: Layout, tmp_path: pathlib.Path) -> None:
    """It was skipped as if a CRC collision: ``shared`` then had 1 record of count 2."""
    e = small.entries_of(b"shared")[0]
    other = small.line_of(b"a0")
    small.set_entry(e, small.entry(e) >> 40 << 40 | other - small.base)
    with damaged(small.save(tmp_path / "d.klp"), small.entry_at(e)):
        SymbolDB(str(tmp_path / "d.klp")).lookup(["shared"])


@pytest.mark.parametrize("name", [b"shared", b"once"])
def test_entry_with_a_damaged_hash(name: bytes, small: Layout, tmp_path: pathlib.Path) -> None:
    """An entry that no longer has its name's hash hid its line: ``shared`` kept its
    other record in m0 (1 of count 2), ``once`` vanished from m3."""
    e = small.entries_of(name)[0]
    small.set_entry(e, small.entry(e) ^ 1 << 40)  # a low CRC bit: same bucket
    with damaged(small.save(tmp_path / "d.klp"), small.entry_at(e)):
        SymbolDB(str(tmp_path / "d.klp")).lookup([name.decode()])


def test_records_out_of_order(small: Layout, tmp_path: pathlib.Path) -> None:
    first, second = small.entries_of(b"shared")[1:3]  # m0's position 2, m1's position 1
    key_first, key_second = small.entry(first), small.entry(second)
    small.set_entry(first, key_second)
    small.set_entry(second, key_first)
    with damaged(small.save(tmp_path / "d.klp")):
        SymbolDB(str(tmp_path / "d.klp")).lookup(["shared"])


def test_entry_pointing_twice_at_one_line(small: Layout, tmp_path: pathlib.Path) -> None:
    first, second = small.entries_of(b"shared")[:2]
    small.set_entry(second, small.entry(first))
    with damaged(small.save(tmp_path / "d.klp")):
        SymbolDB(str(tmp_path / "d.klp")).lookup(["shared"])


@pytest.mark.parametrize(("old", "new"), [
    (b"shared\t2\t2\t", b"shared\t1\t2\t"),  # two first positions
    (b"shared\t2\t2\t", b"shared\t2\t3\t"),  # counts disagree
    (b"once\t1\t1\t", b"once\t2\t2\t"),  # position 1 missing
    (b"once\t1\t1\t", b"once\t0\t1\t"),
])
def test_record_positions_must_be_one_to_count(old: bytes, new: bytes, small: Layout,
                                               tmp_path: pathlib.Path) -> None:
    at = small.data.index(old)
    small.data[at : at + len(old)] = new
    fixed = SymbolDB(small.save(tmp_path / "d.klp"))
    name = old.split(b"\t")[0].decode()
    with damaged(fixed.path):
        fixed.lookup([name])
    with damaged(fixed.path):
        list(fixed)


def test_query_and_convert_refuse_a_damaged_index(tmp_path: pathlib.Path) -> None:
    """The sample kernel's database with the entry of fixture_count's first position
    pointing at a line of another name: query showed the others and exited 0, convert
    offered KLP_SYMPOS(fixture_count, 2) and (3)."""
    t = TESTDATA / "x86_64"
    good = tmp_path / "good.klp"
    klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "--modules", str(t / "modules"),
        "--symvers", str(t / "Module.symvers"), "-o", str(good))
    layout = Layout.of(good.read_bytes())
    e = layout.entries_of(b"fixture_count")[0]
    layout.set_entry(e, layout.entry(e) ^ 1 << 40)
    bad = layout.save(tmp_path / "bad.klp")
    proc = klp("symdb", "query", "fixture_count", "--symdb", bad, check=3)
    assert re.search(r"damaged symbols.klp \(.*at offset \d+", proc.stderr), proc.stderr
    assert proc.stdout == ""
    shutil.copy(t / "livepatch-ambiguous.ko", tmp_path / "amb.ko")
    proc = klp("convert", str(tmp_path / "amb.ko"), "--dry-run", "--symdb", bad, "--symvers",
               str(t / "Module.symvers"), check=3)
    assert "damaged symbols.klp" in proc.stderr and "KLP_SYMPOS" not in proc.stderr


@pytest.mark.parametrize(("field", "bits"), [("values", 64), ("sizes", 64), ("values", 16000)])
def test_numbers_wider_than_64_bits(field: str, bits: int, tmp_path: pathlib.Path) -> None:
    """st_value and st_size are 64-bit: a wider number is damage (16,000 bits of hex
    went into the record, and query --json failed to print it as decimal)."""
    module = obj("m", [b"x"])
    setattr(module, field, [1 << bits])
    db = write(tmp_path, [module])
    with damaged(db.path):
        db.lookup(["x"])
