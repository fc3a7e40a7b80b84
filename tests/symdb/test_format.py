"""symbols.klp writer and reader on synthetic objects: escaping, the index, bad files."""

from __future__ import annotations

import pathlib
from collections import Counter

import pytest

from klp.convert.model import KnownObjects
from klp.errors import InputError
from klp.symdb.format import (
    HEADER,
    SymbolDB,
    UpstreamAssembler,
    assemble,
    encode_object_upstream,
    escape,
    unescape,
)
from klp.symdb.model import Dialect, ObjectSymbols
from tests.support.symdb import obj, write

ODD = [b"plain", b"tab\there", b"new\nline", b"back\\slash", b"*star", b"%pct", b"#hash",
       b"\\lead", b"caf\xc3\xa9", b"bad\xff\xfebytes", b"plain"]


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def test_escape_round_trip() -> None:
    for raw in ODD:
        field = escape(raw)
        assert b"\t" not in field and b"\n" not in field and field[:1] not in (b"*", b"%", b"#")
        assert unescape(field) == raw


def test_odd_names_are_found(tmp_path: pathlib.Path) -> None:
    db = write(tmp_path, [obj("odd", ODD)])
    found = db.lookup([text(n) for n in ODD])
    assert set(found) == {text(n) for n in ODD}
    assert [(r.pos, r.count) for r in found["plain"]] == [(1, 2), (2, 2)]
    assert all(r.exported for r in found["plain"])  # a name is exported, not a definition
    assert found["tab\there"][0].file == "a\tfile.c"
    assert [r.name for r in db] == [text(n) for n in ODD]
    assert set(db.all_names()) == {text(n) for n in ODD}
    assert db.lookup(["missing", "plai", "plain\t"]) == {}


def test_index_finds_every_record(tmp_path: pathlib.Path) -> None:
    """Many objects and many same-hash buckets: every name finds all its definitions,
    in file order; also when the index was sized for far more symbols."""
    objects = [obj(f"m{i}", [b"shared", *(b"s%d_%d" % (i, j) for j in range(50)), b"shared"])
               for i in range(40)]
    for expected in (None, 10**6):
        db = write(tmp_path, objects, expected)
        records = list(db)
        assert len(records) == 40 * 52
        by_name = Counter(r.name for r in records)
        found = db.lookup(by_name)
        assert {n: len(v) for n, v in found.items()} == dict(by_name)
        shared = found["shared"]
        assert [(r.obj, r.pos) for r in shared] == [(f"m{i}", p) for i in range(40) for p in (1, 2)]
        assert db.objects() == [f"m{i}" for i in range(40)]


def test_has_object_reads_names_only_as_far_as_it(tmp_path: pathlib.Path) -> None:
    """Membership reads the object table in file order up to the name asked for: the
    first object costs one name, a missing one all of them, and an object a lookup
    read already none."""
    objects = [obj(f"m{i}", [b"s%d" % i]) for i in range(40)]
    db = write(tmp_path, objects)
    reader = db._reader
    assert db.has_object("m0") and len(reader._object_names) == 1
    assert db.lookup(["s30"])["s30"][0].obj == "m30"
    assert db.has_object("m30") and not reader._object_names.keys() & set(range(1, 30))
    assert db.has_object("m3") and not reader._object_names.keys() & set(range(4, 30))
    assert not db.has_object("m40") and len(reader._object_names) == 40
    known = KnownObjects(db)
    assert "m39" in known and "m40" not in known and 7 not in known
    assert len(known) == 40 and list(known) == db.objects()


def test_same_objects_same_bytes(tmp_path: pathlib.Path) -> None:
    a = write(tmp_path, [obj("x", ODD)]).data[:]
    b = write(tmp_path, [obj("x", ODD)]).data[:]
    assert a == b


def test_no_objects(tmp_path: pathlib.Path) -> None:
    db = write(tmp_path, [])
    assert db.objects() == [] and db.lookup(["x"]) == {} and list(db) == []
    assert db.kernel_release == "" and db.meta["objects"] == "0"


def test_metadata(tmp_path: pathlib.Path) -> None:
    db = write(tmp_path, [obj("a", [b"x"]), obj("b", [b"y"])])
    assert db.vermagic == "6.1.0 SMP " and db.kernel_release == "6.1.0"  # trailing space kept
    assert db.object_meta("b") == {"path": "b.ko", "vermagic": "6.1.0 SMP "}
    with pytest.raises(KeyError):
        db.object_meta("c")


@pytest.mark.parametrize(("content", "message"), [
    (b"", "not a symbols.klp file"),
    (b"hello\n", "not a symbols.klp file"),
    (b"klp-symbols 2\n", "version '2' is not supported"),
    (HEADER + b"\n*vmlinux\nx\t1\t1\n", "damaged"),
])
def test_reader_refuses(content: bytes, message: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.klp"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        SymbolDB(str(path))


def test_reader_refuses_a_truncated_file(tmp_path: pathlib.Path) -> None:
    good = write(tmp_path, [obj("a", ODD)])
    data = bytes(good.data[:])
    (tmp_path / "cut.klp").write_bytes(data[:-100] + data[-22:])
    with pytest.raises(InputError, match="damaged"):
        SymbolDB(str(tmp_path / "cut.klp"))
    with pytest.raises(InputError, match=r"(?i)no such file"):
        SymbolDB(str(tmp_path / "none.klp"))


def test_upstream_reader(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "up.klp"
    path.write_text("klp-convert-symbol-data.0.1 (made by hand)\n*vmlinux\nfoo\nbar\nfoo\n"
                    "__ksymtab_bar\n*mod_a\nfoo\n")
    db = SymbolDB(str(path))
    assert db.format == "klp-convert-0.1" and not db.positions_exact
    assert db.objects() == ["vmlinux", "mod_a"]
    found = db.lookup(["foo", "bar", "baz"])
    assert [(r.obj, r.pos, r.count) for r in found["foo"]] == [
        ("vmlinux", 1, 2), ("vmlinux", 2, 2), ("mod_a", 1, 1)]
    assert db.exported("bar") and not db.exported("foo") and "baz" not in found
    assert [(r.name, r.pos) for r in db][:3] == [("foo", 1), ("bar", 1), ("foo", 2)]
    assert [r.exported for r in db if r.name == "bar"] == [True]  # as lookups say
    assert db.closest("fooo", 3) == ["foo"]
    path.write_text("klp-convert-symbol-data.0.1\nfoo\n*vmlinux\n")
    with pytest.raises(InputError, match="before the first"):
        SymbolDB(str(path))
    path.write_text("klp-convert-symbol-data.0.1\n*vmlinux\nfoo\n*mod\nfoo\n*vmlinux\nfoo\n")
    with pytest.raises(InputError, match=r"a second \*vmlinux line \(the first is at offset 28\)"
                                         r" at offset 50"):
        SymbolDB(str(path))


def test_lookup_shape(tmp_path: pathlib.Path) -> None:
    db = write(tmp_path, [obj("m", ODD)])
    (first, second) = db.lookup(["plain"])["plain"]
    assert (first.obj, first.pos, first.count, first.exported) == ("m", 1, 2, True)
    assert second.address == ".text+0xa0" and second.size == 10
    assert db.vmlinux_exports(["plain"]) == set()  # a module export is not vmlinux's


# -- odd names in both dialects --------------------------------------------------------

#: Names each dialect can hold: upstream's reader takes every line but a ``*`` line as
#: one name, verbatim, so only a newline and a leading ``*`` are out of its reach.
BOTH = [b"tab\there", b"cr\rname", b"back\\slash", b"\\lead", b"trail\\", b"br[ack]et",
        b"a[/]", b"[bold]x", b"caf\xc3\xa9", b"bad\xff\xfebytes", b"%pct", b"#hash", b"\\t",
        b"sp ace", b"plain", b"plain"]
KLP_ONLY = [b"new\nline", b"*star", b"\n", b"x\n*y"]


def encoded(objects: list[ObjectSymbols], fmt: Dialect, tmp_path: pathlib.Path) -> SymbolDB:
    if fmt == Dialect.KLP:
        return write(tmp_path, objects)
    asm = UpstreamAssembler()
    for o in objects:
        asm.add(encode_object_upstream(o))
    path = tmp_path / "up.klp"
    path.write_bytes(asm.finish({}))
    return SymbolDB(str(path))


@pytest.mark.parametrize("fmt", list(Dialect))
def test_odd_names_round_trip(fmt: Dialect, tmp_path: pathlib.Path) -> None:
    names = BOTH + (KLP_ONLY if fmt == Dialect.KLP else [])
    objects = [obj("odd\tobj\\[x]", names), obj("bad\udcff", [b"plain", b"tab\there"])]
    for o in objects:
        o.exported = set()  # upstream would add __ksymtab_ lines
    db = encoded(objects, fmt, tmp_path)
    assert db.objects() == ["odd\tobj\\[x]", "bad\udcff"]
    found = db.lookup([text(n) for n in names])
    assert set(found) == {text(n) for n in names}
    for name in names:
        records = [(r.obj, r.pos, r.count) for r in found[text(name)]]
        expected = [("odd\tobj\\[x]", p, names.count(name)) for p in
                    range(1, names.count(name) + 1)]
        if name in (b"plain", b"tab\there"):
            expected.append(("bad\udcff", 1, 1))
        assert records == expected, name
    assert [r.name for r in db] == [text(n) for n in names] + ["plain", "tab\there"]
    assert set(db.all_names()) == {text(n) for n in names}
    absent = ["tab", "tab\\there", "cr", "new", "line", "star", "bad", "\\", "plain\n", ""]
    assert db.lookup(absent) == {}


@pytest.mark.parametrize("name", KLP_ONLY)
def test_upstream_refuses_a_name_it_cannot_hold(name: bytes) -> None:
    with pytest.raises(InputError, match=r"(?s)^m \(m\.ko\): .*'.*'.* klp-convert-0\.1.*"
                                         r"--format klp"):
        encode_object_upstream(obj("m", [b"fine", name]))


def test_upstream_refuses_an_object_name_it_cannot_hold() -> None:
    with pytest.raises(InputError, match="--format klp"):
        encode_object_upstream(obj("two\nlines", [b"fine"]))


def test_upstream_reader_takes_lines_verbatim(tmp_path: pathlib.Path) -> None:
    """As klp-convert's getline loop does: only the newline is taken off a line."""
    path = tmp_path / "up.klp"
    path.write_bytes(b"klp-convert-symbol-data.0.1\n*vmlinux\nx\\ty\ncr\r\n\n*mod\\a\nlast")
    db = SymbolDB(str(path))
    assert db.objects() == ["vmlinux", "mod\\a"]
    assert [(r.name, r.obj) for r in db] == [("x\\ty", "vmlinux"), ("cr\r", "vmlinux"),
                                             ("", "vmlinux"), ("last", "mod\\a")]
    assert set(db.lookup(["x\\ty", "cr\r", "last", "", "x\ty"])) == {"x\\ty", "cr\r", "last",
                                                                      ""}


def test_header_keys_round_trip(tmp_path: pathlib.Path) -> None:
    """Keys are bytes like values (the fuzz target's re-indexing wrote one back)."""
    path = tmp_path / "k.klp"
    path.write_bytes(assemble({"k\udcff\t[x]": "v\udcfe"}, []))
    assert SymbolDB(str(path)).meta == {"k\udcff\t[x]": "v\udcfe"}
