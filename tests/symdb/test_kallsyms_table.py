"""vmlinux's own kallsyms table decides which symbols the database lists and in what
order; the sample vmlinux gets one written the way scripts/kallsyms.c writes it."""

from __future__ import annotations

import json
import pathlib
import random
import struct
from collections import Counter

import pytest

from klp.elfcodec.constants import SHF, SHT, STB, STT
from klp.elfcodec.elffile import ElfFile
from klp.errors import ElfError, KlpError
from klp.symdb.build import build
from klp.symdb.format import SymbolDB
from klp.symdb.kallsyms_table import CODE_ONLY_KEY, TABLE_SYMBOLS, read_table
from klp.symdb.scan import scan_vmlinux
from klp.symdb.sources import find_sources
from tests.support.cli import klp
from tests.support.paths import TESTDATA

#: Where the table's section is linked (above the sample's sections).
TABLE_ADDRESS = 0xFFFFFFFF82800000
OBJECT = STB.GLOBAL << 4 | STT.OBJECT


def with_table(entries: list[bytes], *, count: int | None = None) -> ElfFile:
    """The sample vmlinux with a kallsyms table of ``entries`` (type letter + name), each
    byte its own token, and the table's five symbols (``count``: a damaged count)."""
    elf = ElfFile.open(TESTDATA / "x86_64" / "vmlinux")
    names = b"".join((bytes([len(e)]) if len(e) < 0x80 else
                      bytes([len(e) & 0x7F | 0x80, len(e) >> 7])) + e for e in entries)
    tokens = [bytes([i]) if i else b"" for i in range(256)]
    offsets = [sum(len(t) + 1 for t in tokens[:i]) for i in range(256)]
    parts = {b"kallsyms_num_syms": struct.pack("<I", len(entries) if count is None else count),
             b"kallsyms_names": names, b"kallsyms_markers": struct.pack("<I", 0),
             b"kallsyms_token_table": b"".join(t + b"\0" for t in tokens),
             b"kallsyms_token_index": struct.pack("<256H", *offsets)}
    sec = elf.add_section(".rodata.kallsyms", SHT.PROGBITS, flags=SHF.ALLOC,
                          data=b"".join(parts[n] for n in TABLE_SYMBOLS))
    sec.sh_addr = TABLE_ADDRESS
    at = TABLE_ADDRESS
    for name in TABLE_SYMBOLS:
        elf.add_symbol(name.decode(), info=OBJECT, shndx=sec.index, value=at)
        at += len(parts[name])
    return ElfFile.from_bytes(elf.to_bytes(), "vmlinux")


def listed(elf: ElfFile) -> list[bytes]:
    obj = scan_vmlinux(elf, "vmlinux")
    return [letter + name for letter, name in zip(obj.letters, obj.names, strict=True)]


def test_the_table_decodes_as_written() -> None:
    entries = [b"Tstart", b"t" + b"x" * 200, b"Dvalue"]  # one name takes a 2-byte length
    elf = with_table(entries)
    symtab = elf.symtab
    names = symtab.raw_names(range(len(symtab)))
    table = read_table(elf, lambda n: symtab.value(names.index(n)))
    assert table is not None
    assert [bytes([c]) + n for c, n in zip(*table, strict=True)] == entries


def test_a_table_like_the_rules_changes_nothing() -> None:
    """The sample kernel's rules give the list its table would have (6.1's kallsyms.c
    leaves the table's own symbols out)."""
    plain = listed(ElfFile.open(TESTDATA / "x86_64" / "vmlinux"))
    assert listed(with_table(plain)) == plain


def test_the_table_adds_what_the_rules_leave_out() -> None:
    """7.x lists the table's own symbols (mksysmap no longer drops kallsyms_*): where
    the table has them, the database has them, in the table's order."""
    plain = listed(ElfFile.open(TESTDATA / "x86_64" / "vmlinux"))
    own = [b"R" + name for name in TABLE_SYMBOLS]
    assert listed(with_table(plain + own)) == plain + own


def test_with_a_system_map_that_lists_the_table(tmp_path: pathlib.Path) -> None:
    """--vmlinux with --system-map: System.map is read by the rules, which leave the
    table's own symbols out; the vmlinux whose table lists them still agrees with it."""
    plain = listed(ElfFile.open(TESTDATA / "x86_64" / "vmlinux"))
    own = [b"R" + name for name in TABLE_SYMBOLS]
    vmlinux = tmp_path / "vmlinux"
    vmlinux.write_bytes(with_table(plain + own).to_bytes())
    system_map = tmp_path / "System.map"
    system_map.write_text((TESTDATA / "x86_64" / "System.map").read_text() + "".join(
        f"{TABLE_ADDRESS:016x} R {name.decode()}\n" for name in TABLE_SYMBOLS))
    db = tmp_path / "symbols.klp"
    db.write_bytes(build(find_sources(vmlinux=str(vmlinux), system_map=str(system_map)),
                         jobs=1).data)
    assert SymbolDB(str(db)).lookup(["kallsyms_names"])["kallsyms_names"]


@pytest.mark.parametrize(("release", "lists_itself"), [
    ("6.1.0-klp-fixture", False), ("6.12.0-klp-fixture", True), ("7.3.0-klp-fixture", True),
    ("", False),
])
def test_a_system_map_alone_lists_the_table_from_6_12(tmp_path: pathlib.Path, release: str,
                                                      lists_itself: bool) -> None:
    """System.map has the table's own symbols whether kallsyms lists them or not: the
    modules' vermagic decides (6.1 leaves them out, 6.12 and later list them; no
    module: out, which moves no position)."""
    system_map = tmp_path / "System.map"
    system_map.write_text((TESTDATA / "x86_64" / "System.map").read_text() + "".join(
        f"{TABLE_ADDRESS:016x} R {name.decode()}\n" for name in TABLE_SYMBOLS))
    modules = tmp_path / "modules"
    modules.mkdir()
    if release:
        ko = ElfFile.open(TESTDATA / "x86_64" / "modules" / "fixture-mod.ko")
        modinfo = ko.find_section(".modinfo")
        assert modinfo is not None
        modinfo.data = modinfo.data.replace(b"vermagic=6.1.0-klp-fixture",
                                            f"vermagic={release}".encode())
        ko.write(modules / "fixture-mod.ko")
    db = tmp_path / "symbols.klp"
    db.write_bytes(build(find_sources(system_map=str(system_map), modules_dir=str(modules)),
                         jobs=1).data)
    found = SymbolDB(str(db)).lookup([name.decode() for name in TABLE_SYMBOLS])
    assert sorted(found) == (sorted(n.decode() for n in TABLE_SYMBOLS) if lists_itself else [])


def test_the_table_decides_the_order() -> None:
    """Two symbols the table lists the other way round (a tie the rules break
    differently): the table's order."""
    plain = listed(ElfFile.open(TESTDATA / "x86_64" / "vmlinux"))
    swapped = [plain[1], plain[0], *plain[2:]]
    assert plain[0][1:] != plain[1][1:]
    assert listed(with_table(swapped)) == swapped


@pytest.mark.parametrize("entries, count, says", [
    ([b"Tno_such_symbol"], None, "lists no_such_symbol 1 time(s), its .symtab has 0"),
    ([b"Tstart"], 1 << 30, "its kallsyms table is damaged"),
])
def test_a_table_klp_cannot_follow_is_an_error(entries: list[bytes], count: int | None,
                                                says: str) -> None:
    with pytest.raises(ElfError, match=r"(?s).*" + says.replace("(", r"\(").replace(")", r"\)")):
        scan_vmlinux(with_table(entries, count=count), "vmlinux")


def test_damaged_tables_give_klp_errors_only() -> None:
    """Seeded mutations of the table's bytes (counts, lengths, tokens, offsets): the
    scan lists symbols of the .symtab or fails with a KlpError, never a traceback."""
    plain = listed(ElfFile.open(TESTDATA / "x86_64" / "vmlinux"))
    good = with_table(plain + [b"R" + name for name in TABLE_SYMBOLS]).to_bytes()
    elf = ElfFile.from_bytes(good)
    table = next(s for s in elf.sections if s.name == ".rodata.kallsyms")
    start, size = table.sh_offset, table.sh_size
    rng = random.Random(1201)
    outcomes: Counter[str] = Counter()
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rng.choice((1, 2, 8))):
            at = start + rng.randrange(size)
            data[at] = rng.choice((0, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        try:
            obj = scan_vmlinux(ElfFile.from_bytes(bytes(data), "vmlinux"), "vmlinux")
        except KlpError:
            outcomes["refused"] += 1
        else:
            assert set(obj.names) <= {e[1:] for e in plain} | set(TABLE_SYMBOLS)
            outcomes["listed"] += 1
    assert outcomes["refused"] > 50 and outcomes["listed"] > 10, outcomes


def test_a_code_only_kernel_takes_no_livepatch(dbs: dict[str, pathlib.Path],
                                               tmp_path: pathlib.Path) -> None:
    """A table of code only (a kernel without CONFIG_KALLSYMS_ALL, so without
    CONFIG_LIVEPATCH, like Debian's ppc64el 6.1): the build warns, and convert and
    verify refuse a patch for that kernel (convert goes on with --force)."""
    plain = listed(ElfFile.open(TESTDATA / "x86_64" / "vmlinux"))
    vmlinux = tmp_path / "vmlinux"
    vmlinux.write_bytes(with_table([e for e in plain if e[:1] in b"tT"]).to_bytes())
    t = TESTDATA / "x86_64"
    db = tmp_path / "symbols.klp"
    proc = klp("symdb", "build", "--vmlinux", str(vmlinux), "--modules", str(t / "modules"),
               "--symvers", str(t / "Module.symvers"), "-o", str(db))
    assert "CONFIG_KALLSYMS_ALL" in proc.stderr
    assert SymbolDB(str(db)).object_meta("vmlinux")[CODE_ONLY_KEY] == "code"
    patch, out = t / "livepatch-fixture.ko", tmp_path / "out.ko"
    proc = klp("convert", str(patch), "-o", str(out), "--symdb", str(db), check=5)
    assert "cannot load a livepatch" in proc.stderr and not out.exists()
    assert "CONFIG_LIVEPATCH (or pass --force)" in proc.stderr
    proc = klp("convert", str(patch), "-o", str(out), "--symdb", str(db), "--force", "--json",
               check=None)
    assert any("cannot load a livepatch" in w for w in json.loads(proc.stdout)["warnings"])
    klp("convert", str(patch), "-o", str(out), "--symdb", str(dbs["x86_64"]), "--symvers",
        str(t / "Module.symvers"))
    proc = klp("verify", str(out), "--symdb", str(db), "--json", check=None)
    problems = json.loads(proc.stdout)["problems"]
    assert proc.returncode != 0 and "cannot load a livepatch" in problems[0]["message"]
