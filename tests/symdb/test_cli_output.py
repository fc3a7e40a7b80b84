"""What the symdb commands print: names and paths from files and the command line are
text, never rich markup or terminal controls, and print on a strict UTF-8 stream."""

from __future__ import annotations

import pathlib
import re
import shutil

import pytest

from tests.support.cli import klp
from tests.support.paths import TESTDATA
from tests.support.symdb import obj, write

STRICT = {"PYTHONIOENCODING": "utf-8:strict"}


@pytest.fixture(scope="module")
def odd_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Names that are markup, terminal controls and bytes that are not UTF-8."""
    folder = tmp_path_factory.mktemp("odd\udcff[bold]")
    db = write(folder, [obj("m\udcff[x]", [b"bad\xff", b"[bold]b", b"esc\x1b[31mred",
                                           b"a[/]"])])
    return db.path


def test_query_prints_names_as_text(odd_db: str) -> None:
    """'a[/]' ended in rich.errors.MarkupError; bytes >= 0x80 showed as \\udcff."""
    proc = klp("symdb", "query", "bad\udcff", "[bold]b", "esc\x1b[31mred", "a[/]", "-d", odd_db,
               env=STRICT)
    for shown in ("bad\\xff", "[bold]b", "esc\\x1b[31mred", "a[/]", "m\\xff[x]",
                  "odd\\xff[bold]"):
        assert shown in proc.stdout, shown
    missing = klp("symdb", "query", "bad\udcfe", "[/]", "x[/]y", "-d", odd_db, env=STRICT,
                  check=1)
    assert "bad\\xfe: not in " in missing.stderr and "did you mean bad\\xff?" in missing.stderr
    assert "[/]: not in" in missing.stderr and "x[/]y: not in" in missing.stderr
    assert "odd\\xff[bold]" in missing.stderr
    for out in (proc.stdout, proc.stderr, missing.stdout, missing.stderr):
        assert "\\udc" not in out and "\x1b" not in out


def test_build_prints_paths_as_text(tmp_path: pathlib.Path) -> None:
    """-o 'x[/]y/s.klp' wrote the file, then ended in MarkupError; '[bold]' vanished."""
    t = TESTDATA / "x86_64"
    mods = tmp_path / "[bold]mods\udcff"
    mods.mkdir()
    shutil.copy(t / "modules" / "fixture-mod.ko", mods / "a.ko")
    (mods / "[red]junk\udcff.ko").write_bytes(b"junk")
    for out in (tmp_path / "x[/]y" / "s.klp", tmp_path / "[bold]z" / "s.klp"):
        out.parent.mkdir(parents=True)
        proc = klp("symdb", "build", "--vmlinux", str(t / "vmlinux"), "--modules", str(mods),
                   "-o", str(out), "--keep-going", env=STRICT)
        assert f"{out}: 2 objects, " in proc.stderr
        assert "[bold]mods\\xff/[red]junk\\xff.ko at offset 0x0: " in proc.stderr
        assert "\\udc" not in proc.stderr


def test_summary_counts_in_words(tmp_path: pathlib.Path) -> None:
    """'1 objects': each count agrees with its noun."""
    t = TESTDATA / "x86_64"
    mods = tmp_path / "mods"
    mods.mkdir()
    shutil.copy(t / "modules" / "fixture-mod.ko", mods)
    shutil.copy(t / "livepatch-fixture.ko", mods)
    (mods / "junk.ko").write_bytes(b"junk")
    proc = klp("symdb", "build", "--modules", str(mods), "-o", str(tmp_path / "s.klp"),
               "--keep-going")
    summary = proc.stderr.splitlines()[-1]
    assert ": 1 object, 15 symbols, 2 ambiguous names (repeated within an object), " \
           "1 module symbol with a load-order-dependent position, 1 livepatch module left " \
           "out, 1 object skipped, " in summary, summary


def test_query_help_shows_its_arguments() -> None:
    """query parsed its own arguments, and --help showed neither --symdb nor NAME."""
    text = klp("symdb", "query", "--help", env={"COLUMNS": "200"}).stdout
    # Python 3.13's argparse names the metavar once: "-d, --symdb FILE"
    assert re.search(r"-d( FILE)?, --symdb FILE\s+the symbol database", text), text
    assert re.search(r"NAME\s+symbol names", text), text
    assert "the following arguments are required: NAME" in klp("symdb", "query",
                                                               check=2).stderr
