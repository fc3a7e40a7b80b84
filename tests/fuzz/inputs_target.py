"""Fuzz target: compressed objects (``.ko.xz``, ``.ko.gz``, ``.ko.zst``), opened as every
command opens them (:func:`klp.inputs.open_object`).

The seeds are testdata's modules compressed each way. An input is written under
every suffix and opened as each, so a damaged stream of one kind is also read as
the others. Only a KlpError may escape; what opens is never more than the bound
(a multiple of the file's size), and decodes as the codec decodes any file.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
from pathlib import Path

from klp.errors import KlpError
from klp.inputs import COMPRESSED, MAX_RATIO, MIN_LIMIT, open_object
from tests.fuzz.engine import Target
from tests.support.paths import TESTDATA

MODULES = ("x86_64/livepatch-fixture.ko", "s390x/modules/fixture-mod.ko")


def seeds() -> list[bytes]:
    found = []
    for name in MODULES:
        data = (TESTDATA / name).read_bytes()
        found += [lzma.compress(data, check=lzma.CHECK_CRC32), gzip.compress(data, mtime=0)]
        if shutil.which("zstd"):
            found.append(subprocess.run(["zstd", "-qc"], input=data, capture_output=True,
                                        check=True).stdout)
    return found


def run(data: bytes, scratch: Path) -> None:
    refused: KlpError | None = None
    opened = False
    for suffix in COMPRESSED:
        path = scratch / f"in.ko{suffix}"
        path.write_bytes(data)
        try:
            elf = open_object(str(path))
            if len(elf.buffer) > max(MAX_RATIO * len(data), MIN_LIMIT):
                raise AssertionError(f"{suffix}: {len(elf.buffer)} bytes from {len(data)}")
            elf.decode_all()
            opened = True
        except KlpError as e:
            refused = refused or e
    if refused is not None and not opened:
        raise refused  # counted as refused, not clean


TARGET = Target("inputs", seeds, run)
