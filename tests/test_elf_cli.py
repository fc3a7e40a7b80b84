"""``klp elf``: the plain listing, the rich table and the JSON rows say what readelf
says; names from the file print escaped in each; piped output stops quietly."""

from __future__ import annotations

import io
import json
import lzma
import os
import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest

from klp import elfview, render
from klp.elfcodec import describe
from klp.elfcodec.constants import SHN, SHT
from klp.elfcodec.elffile import ElfFile
from klp.render import shown
from tests.support.cli import klp, on_terminal
from tests.support.paths import TESTDATA, fixture_objects, realdata_or_skip
from tests.support.readelf import codec_view

FIXTURES = fixture_objects()
VIEWS = tuple(elfview.COLUMNS)
SAMPLE = TESTDATA / "x86_64" / "livepatch-fixture.ko"


def plain(elf: ElfFile, view: str) -> str:
    out = io.StringIO()
    render.write_plain(out, f"{elf.path} ({elf.arch.name}): {view}", elfview.COLUMNS[view],
                       elfview.Listing(elf, view).blocks, hex_columns=elfview.HEX_COLUMNS)
    return out.getvalue()


def parse_plain(text: str) -> tuple[str, list[str], list[list[str]]]:
    """Title, header and cells of a plain listing, cut where every line has a gap of
    two or more spaces (cell texts of the fixtures have no such gap)."""
    title, *lines = text.splitlines()
    width = max(map(len, lines))
    padded = [line.ljust(width + 2) for line in lines]
    blank = "".join(" " if all(p[i] == " " for p in padded) else "x"
                    for i in range(width + 2))
    spans = [m.span() for m in re.finditer(r"x+(?: x+)*", blank)]
    header, *rows = ([p[a:b].strip() for a, b in spans] for p in padded)
    return title, header, rows


def expected_cells(elf: ElfFile, view: str) -> list[list[str]]:
    """The cells of ``view`` from the readelf oracle's view of the codec (the same as
    readelf's, tests/elfcodec/test_oracle.py), as the tables show them."""
    oracle: Any = codec_view(elf)
    sections, symbols, relocs = oracle
    if view == "sections":
        return [[str(i), shown(name), typ, hex(addr), hex(off), str(size), str(es), flags, str(lk),
                 str(inf), str(al)]
                for i, name, typ, addr, off, size, es, flags, lk, inf, al in sections]
    if view == "symbols":
        return [[str(i), hex(value), str(size), typ, bind, vis,
                 "LIVEPATCH" if ndx == "OS [0xff20]" else ndx, shown(name)]
                for i, value, size, typ, bind, vis, ndx, name in symbols]
    return [[shown(name), hex(offset), typ, shown(symbol), str(addend)]
            for name, rows in relocs.items()
            for offset, _info, typ, symbol, addend in rows]


def old_rows(elf: ElfFile, view: str) -> list[dict[str, Any]]:
    """The rows as klp built them before it streamed them: one dict per row, from the
    codec's per-row views."""
    if view == "sections":
        return [{"index": s.index, "name": s.name, "type": describe.section_type(s.sh_type),
                 "address": s.sh_addr, "offset": s.sh_offset, "size": s.sh_size,
                 "entsize": s.sh_entsize, "flags": describe.section_flags(s.sh_flags),
                 "flag_names": describe.section_flag_names(s.sh_flags), "link": s.sh_link,
                 "info": s.sh_info, "align": s.sh_addralign} for s in elf.sections]
    table = elf.symtab
    if view == "symbols":
        return [{"index": sym.index, "name": elfview.symbol_label(elf, table, sym.index),
                 "value": sym.value, "size": sym.size, "type": describe.symbol_type(sym.type),
                 "bind": describe.symbol_bind(sym.bind),
                 "visibility": describe.symbol_visibility(sym.other), "other": sym.other,
                 "section": describe.section_index(sym.shndx)} for sym in table]
    rows = []
    for sec in elf.sections_of_type(SHT.RELA):
        symbols = elf.symbols(elf.section(sec.sh_link))
        rows += [{"section": sec.name, "offset": rel.offset,
                  "type": elf.arch.reloc_name(rel.type), "type_number": rel.type,
                  "symbol_index": rel.sym,
                  "symbol": elfview.symbol_label(elf, symbols, rel.sym) if rel.sym else "",
                  "addend": rel.addend} for rel in elf.rela(sec)]
    return rows


def json_of(elf: ElfFile, view: str) -> str:
    out = io.StringIO()
    render.write_json(out, {"file": elf.path, "machine": elf.arch.name}, view,
                      elfview.Listing(elf, view).blocks())
    return out.getvalue()


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(TESTDATA)))
def test_plain_listing_is_readelf(path: pathlib.Path, view: str) -> None:
    elf = ElfFile.open(path)
    title, header, rows = parse_plain(plain(elf, view))
    assert title == f"{path} ({elf.arch.name}): {view}"
    assert header == list(elfview.COLUMNS[view])
    assert rows == expected_cells(ElfFile.open(path), view)


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(TESTDATA)))
def test_json_is_the_rows_as_before(path: pathlib.Path, view: str) -> None:
    elf = ElfFile.open(path)
    text = json_of(elf, view)
    assert json.loads(text) == {"file": str(path), "machine": elf.arch.name,
                                view: old_rows(ElfFile.open(path), view)}
    lines = text.splitlines()
    assert len(lines) == len(old_rows(elf, view)) + 2  # a row per line


def test_extended_section_numbering(tmp_path: pathlib.Path) -> None:
    """Symbols in sections past SHN_LORESERVE show their real index (SHT_SYMTAB_SHNDX)."""
    data = lzma.decompress((TESTDATA / "xindex" / "many-s390x.o.xz").read_bytes())
    elf = ElfFile.from_bytes(data, "many.o")
    rows = json.loads(json_of(elf, "symbols"))["symbols"]
    assert rows == old_rows(ElfFile.from_bytes(data, "many.o"), "symbols")
    assert any(int(r["section"]) >= SHN.LORESERVE for r in rows if r["section"].isdigit())
    _, _, cells = parse_plain(plain(elf, "symbols"))
    assert [c[6] for c in cells] == [r["section"] for r in rows]


HOSTILE = ("tab\there", "new\nline", "[bold]loud[/]", "bad\udcffbyte", "esc\x1b[31m",
           "pct%s%d{}")
HOSTILE_SECTION = ".rela\t[red]\udcfe"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The sample module with hostile names on the symbols its relocations use and on
    a relocation section."""
    elf = ElfFile.open(SAMPLE)
    rela = elf.sections_of_type(SHT.RELA)[0]
    used = sorted({sym for sym in elf.rela(rela).symbols() if elf.symtab.name(sym)})
    for index, name in zip(used, HOSTILE, strict=False):
        elf.rename_symbol(index, name)
    elf.rename_section(rela, HOSTILE_SECTION)
    path = tmp_path_factory.mktemp("hostile") / "hostile.ko"
    elf.write(path)
    return path


@pytest.mark.parametrize("view", VIEWS)
def test_hostile_names_print_escaped(hostile: pathlib.Path, view: str) -> None:
    names = {"sections": [HOSTILE_SECTION], "symbols": HOSTILE,
             "relocs": [*HOSTILE, HOSTILE_SECTION]}[view]
    rows = old_rows(ElfFile.open(hostile), view)
    out = klp("elf", view, str(hostile)).stdout
    assert all(shown(name) in out for name in names)
    assert "\x1b" not in out and "\t" not in out
    assert len(out.splitlines()) == len(rows) + 2  # no name broke a line

    text = klp("elf", view, str(hostile), "--json").stdout
    text.encode("ascii")
    assert json.loads(text)[view] == rows
    values = [value for row in rows for value in row.values()]
    assert all(name in values for name in names)


def rich_cells(text: str) -> list[list[str]]:
    """The body cells of a rich table (rows of ``│ a │ b │``)."""
    return [[c.strip() for c in line.strip().strip("│").split("│")]
            for line in text.splitlines() if line.lstrip().startswith("│")]


def test_a_short_listing_on_a_terminal_is_a_rich_table(hostile: pathlib.Path) -> None:
    text = on_terminal("elf", "relocs", str(hostile))
    assert "┏" in text  # the table's box
    assert "[bold]loud[/]" in text  # markup in a name stays text
    _, _, cells = parse_plain(klp("elf", "relocs", str(hostile)).stdout)
    assert rich_cells(text) == cells == expected_cells(ElfFile.open(hostile), "relocs")


def test_a_long_listing_on_a_terminal_is_plain() -> None:
    path = TESTDATA / "x86_64" / "livepatch-split.ko"
    elf = ElfFile.open(path)
    assert sum(len(elf.rela(s)) for s in elf.sections_of_type(SHT.RELA)) > render.RICH_ROWS
    text = on_terminal("elf", "relocs", str(path))
    assert "┏" not in text
    assert text == klp("elf", "relocs", str(path)).stdout


def test_plain_listing_does_not_import_rich() -> None:
    proc = klp("elf", "symbols", str(SAMPLE), env={"PYTHONPROFILEIMPORTTIME": "1"})
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()]
    assert "klp.render" in imported
    assert not [m for m in imported if m.split(".")[0] == "rich"]


@pytest.mark.parametrize("form", [(), ("--json",)], ids=["plain", "json"])
@pytest.mark.parametrize("lines", [1, 0], ids=["head", "none"])
def test_a_reader_that_stops_early_is_no_error(tmp_path: pathlib.Path, lines: int,
                                               form: tuple[str, ...]) -> None:
    """``klp elf sections many.o | head -1`` (megabytes unread) and ``klp elf relocs
    vmlinux | true`` (no relocations: a few bytes, which stdout keeps after the pipe
    broke and would fail to write again at exit): no traceback, no complaint, exit 0."""
    args = ("relocs", str(TESTDATA / "x86_64" / "vmlinux"))
    if lines:
        path = tmp_path / "many.o"
        path.write_bytes(lzma.decompress((TESTDATA / "xindex" / "many-x86_64.o.xz").read_bytes()))
        args = ("sections", str(path))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffers
    proc = subprocess.Popen([sys.executable, "-m", "klp", "elf", *args, *form],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    for _ in range(lines):
        assert proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait() == 0
    assert proc.stderr.read() == b""


@pytest.mark.parametrize("args", [("elf", "symbols", str(TESTDATA / "x86_64" / "vmlinux")),
                                  ("elf", "sections", str(SAMPLE))], ids=["large", "small"])
def test_a_full_disk_under_stdout_is_an_output_error(args: tuple[str, ...]) -> None:
    """Whether the write fails while klp lists or when the program flushes at exit:
    exit 6 and one line, no traceback."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffers
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "klp", *args], stdout=full, env=env,
                              stderr=subprocess.PIPE, text=True, check=False)
    assert (proc.returncode, proc.stderr) == (
        6, "klp: error: cannot write the output: No space left on device\n")


def test_a_profiler_and_exit_handlers_still_report_when_klp_exits() -> None:
    """klp leaves without the interpreter's teardown, but a profiler that runs it still
    writes its report, and exit handlers registered before (coverage's) still run."""
    proc = subprocess.run([sys.executable, "-m", "cProfile", "-m", "klp", "elf", "sections",
                           str(SAMPLE)], capture_output=True, text=True, check=True)
    assert "function calls" in proc.stdout
    script = ("import atexit, runpy, sys; "
              "atexit.register(lambda: sys.stderr.write('handler ran\\n')); "
              f"sys.argv = ['klp', 'elf', 'sections', {str(SAMPLE)!r}]; "
              "runpy.run_module('klp', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert proc.stderr == "handler ran\n"


@pytest.mark.parametrize("closed", ["1>&-", "1>&- 2>&-"])
def test_a_closed_stdout_discards_the_output(closed: str, tmp_path: pathlib.Path) -> None:
    """Started without stdout (or stderr), klp runs as print() would: no traceback."""
    for args in (f"elf symbols {SAMPLE}", f"symdb build --kernel-tree {TESTDATA / 'x86_64'} "
                 f"-o {tmp_path / 's.klp'}"):
        proc = subprocess.run(f"{sys.executable} -m klp {args} {closed}", shell=True,
                              capture_output="2>" not in closed, text=True, check=False)
        assert proc.returncode == 0
        assert "Traceback" not in (proc.stderr or "")
    assert (tmp_path / "s.klp").is_file()


@pytest.mark.realdata
@pytest.mark.parametrize("view", VIEWS)
def test_a_distro_module_lists_as_readelf_does(view: str) -> None:
    """xfs.ko of Debian's cloud kernel: 80,000 relocations, 8,500 symbols."""
    path = pathlib.Path(realdata_or_skip("cloud-amd64")["MODULES_DIR"]) / "kernel/fs/xfs/xfs.ko"
    _, _, rows = parse_plain(plain(ElfFile.open(path), view))
    assert rows == expected_cells(ElfFile.open(path), view)
    assert json.loads(json_of(ElfFile.open(path), view))[view] == old_rows(ElfFile.open(path),
                                                                           view)
