"""Compressing a file the way kmod installs modules (``.ko.xz``, ``.ko.gz``, ``.ko.zst``)."""

from __future__ import annotations

import gzip
import lzma
import pathlib
import shutil
import subprocess

import pytest

#: The suffixes klp reads compressed.
SUFFIXES = (".xz", ".gz", ".zst")


def compress(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    """``src`` compressed into ``dst`` by its suffix (zstd: the command; skips without it)."""
    data = src.read_bytes()
    if dst.suffix == ".xz":
        dst.write_bytes(lzma.compress(data, check=lzma.CHECK_CRC32))
    elif dst.suffix == ".gz":
        dst.write_bytes(gzip.compress(data, mtime=0))
    else:
        if shutil.which("zstd") is None:
            pytest.skip("no zstd command")
        subprocess.run(["zstd", "-qf", "-o", str(dst), str(src)], check=True)
    return dst
