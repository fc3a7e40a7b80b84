"""Compressed objects as every command's input: the bytes they inflate to, never more.

kmod installs modules as ``.ko.xz``, ``.ko.gz`` or ``.ko.zst`` (Debian 6.12 ships
``.ko.xz``), so a livepatch module a user points at may be compressed; what it
inflates to is bounded by its own size, like any other allocation from an input.
"""

from __future__ import annotations

import gzip
import lzma
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from klp import inputs
from klp.errors import ElfError
from tests.support.cli import klp
from tests.support.compress import SUFFIXES, compress
from tests.support.paths import TESTDATA

T = TESTDATA / "x86_64"
FIXTURE = T / "livepatch-fixture.ko"


def convert(module: pathlib.Path, *args: str, check: int = 0) -> subprocess.CompletedProcess[str]:
    return klp("convert", str(module), *args, "--symvers", str(T / "Module.symvers"), check=check)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_command_reads_a_compressed_module(suffix: str, dbs: dict[str, pathlib.Path],
                                                 tmp_path: pathlib.Path) -> None:
    packed = compress(FIXTURE, tmp_path / f"livepatch-fixture.ko{suffix}")
    db = str(dbs["x86_64"])
    convert(FIXTURE, "-o", str(tmp_path / "plain.ko"), "--symdb", db)
    convert(packed, "-o", str(tmp_path / "packed.ko"), "--symdb", db)
    assert (tmp_path / "packed.ko").read_bytes() == (tmp_path / "plain.ko").read_bytes()
    converted = compress(tmp_path / "plain.ko", tmp_path / f"converted.ko{suffix}")
    assert klp("verify", str(converted), "--symdb", db).stdout.replace(converted.name, "") \
        == klp("verify", str(tmp_path / "plain.ko"), "--symdb", db).stdout.replace("plain.ko", "")
    for view in ("sections", "symbols", "relocs"):
        assert klp("elf", view, "--json", str(packed)).stdout.replace(str(packed), "") \
            == klp("elf", view, "--json", str(FIXTURE)).stdout.replace(str(FIXTURE), "")


def test_klp_writes_no_compressed_module(tmp_path: pathlib.Path) -> None:
    """The kernel build compresses a module when it installs it, after conversion: an
    output named .ko.xz would hold plain ELF, and the input is never rewritten."""
    packed = compress(FIXTURE, tmp_path / "livepatch-fixture.ko.xz")
    before = packed.read_bytes()
    proc = convert(FIXTURE, "-o", str(tmp_path / "out.ko.xz"), check=2)
    assert "klp writes an uncompressed module: give -o a name without .xz" in proc.stderr
    convert(packed, "--in-place", check=2)
    assert packed.read_bytes() == before
    assert not (tmp_path / "out.ko.xz").exists()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_what_a_file_inflates_to_is_bounded_by_its_size(
        suffix: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "MIN_LIMIT", 1 << 16)
    zeros = tmp_path / "zeros"
    zeros.write_bytes(bytes(1 << 20))  # 1 MiB of zeros: a few hundred bytes compressed
    packed = compress(zeros, tmp_path / f"bomb.ko{suffix}")
    limit = max(inputs.MAX_RATIO * packed.stat().st_size, inputs.MIN_LIMIT)
    assert limit < 1 << 20
    with pytest.raises(ElfError, match=rf"inflates to more than {limit:,} bytes"):
        inputs.read_object(str(packed))


def test_a_bomb_is_an_error_not_an_allocation(tmp_path: pathlib.Path) -> None:
    """With the real limit, through the command: 80 MiB from 80 KB of gzip."""
    bomb = tmp_path / "bomb.ko.gz"
    bomb.write_bytes(gzip.compress(bytes(80 << 20), compresslevel=1, mtime=0))
    proc = klp("elf", "sections", str(bomb), check=3)
    assert proc.stderr.startswith(f"klp: error: {bomb}: cannot decompress: it inflates to "
                                  "more than 67,108,864 bytes")


@pytest.mark.parametrize(("suffix", "damage", "reason"), [
    (".xz", lambda d: d[: len(d) // 2], "the compressed data ends early"),
    (".gz", lambda d: d[: len(d) // 2], "the compressed data ends early"),
    (".xz", lambda d: d + b"junk", "data follows the compressed stream"),
    (".gz", lambda d: d + b"junk", "data follows the compressed stream"),
    (".xz", lambda d: d[:12] + bytes(len(d) - 12), "cannot decompress: "),
    (".zst", lambda d: d[: len(d) // 2], "cannot decompress: "),
])
def test_damaged_compression_is_an_error(suffix: str, damage: object, reason: str,
                                         tmp_path: pathlib.Path) -> None:
    packed = compress(FIXTURE, tmp_path / f"m.ko{suffix}")
    packed.write_bytes(damage(packed.read_bytes()))  # type: ignore[operator]
    with pytest.raises(ElfError, match=reason):
        inputs.read_object(str(packed))
    proc = klp("verify", str(packed), "--symdb", str(tmp_path / "none.klp"), check=3)
    assert proc.stderr.startswith(f"klp: error: {packed}") and "Traceback" not in proc.stderr


def test_concatenated_xz_padding_is_accepted(tmp_path: pathlib.Path) -> None:
    """xz allows zero padding after a stream (in multiples of four bytes)."""
    packed = tmp_path / "m.ko.xz"
    packed.write_bytes(lzma.compress(FIXTURE.read_bytes(), check=lzma.CHECK_CRC32) + bytes(8))
    assert inputs.read_object(str(packed)) == FIXTURE.read_bytes()


@pytest.fixture
def specials(tmp_path: pathlib.Path) -> dict[str, str]:
    """Paths that are no regular file: a FIFO nobody writes (reading it would wait
    for ever), a device that never ends, and a folder."""
    fifo = tmp_path / "fifo.ko"
    os.mkfifo(fifo)
    return {"FIFO": str(fifo), "character device": "/dev/zero", "folder": str(tmp_path)}


@pytest.mark.parametrize("kind", ["FIFO", "character device", "folder"])
def test_what_is_no_regular_file_is_refused(specials: dict[str, str],
                                            dbs: dict[str, pathlib.Path],
                                            tmp_path: pathlib.Path, kind: str) -> None:
    """Every input of every command: exit 3 at once, with what the path is."""
    path, db, out = specials[kind], str(dbs["x86_64"]), str(tmp_path / "out.klp")
    commands = [
        ("elf", "sections", path),
        ("convert", path, "--dry-run"),
        ("convert", str(FIXTURE), "--dry-run", "--symdb", path),
        ("convert", str(FIXTURE), "--dry-run", "--symdb", db, "--symvers", path),
        ("verify", path, "--symdb", db),
        ("verify", str(FIXTURE), "--kallsyms", path),
        ("symdb", "query", "x", "--symdb", path),
        ("symdb", "build", "--symvers", path, "--modules", str(T / "modules"), "-o", out),
    ]
    if kind != "folder":  # a folder is a tree, or the folder of --modules
        commands.append(("symdb", "build", path, "-o", out))
    for command in commands:
        proc = klp(*command, check=3)
        assert f"{path}: not a regular file" in proc.stderr, (command, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_a_module_that_is_a_fifo(specials: dict[str, str], tmp_path: pathlib.Path) -> None:
    """Found in a --modules folder: the build fails naming it, or skips it with
    --keep-going."""
    modules = tmp_path / "modules"
    modules.mkdir()
    os.rename(specials["FIFO"], modules / "stalled.ko")
    out = tmp_path / "symbols.klp"
    proc = klp("symdb", "build", "--modules", str(modules), "-o", str(out), check=3)
    assert "stalled.ko: not a regular file (a FIFO)" in proc.stderr
    shutil.copy(T / "modules" / "fixture-mod.ko", modules)
    proc = klp("symdb", "build", "--modules", str(modules), "-o", str(out), "--keep-going")
    assert "stalled.ko: not a regular file (a FIFO)" in proc.stderr and out.is_file()


def test_output_to_standard_output(dbs: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    """-o /dev/stdout: the module alone goes down the pipe (the report to stderr), the
    same bytes as -o a file."""
    db = str(dbs["x86_64"])
    convert(FIXTURE, "-o", str(tmp_path / "file.ko"), "--symdb", db)
    piped = subprocess.run([sys.executable, "-m", "klp", "convert", str(FIXTURE), "-o",
                            "/dev/stdout", "--symdb", db, "--symvers", str(T / "Module.symvers")],
                           capture_output=True, check=True)
    assert piped.stdout == (tmp_path / "file.ko").read_bytes()
    assert b"/dev/stdout: 12 symbols" in piped.stderr
