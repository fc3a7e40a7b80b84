"""``klp convert`` on the bundled livepatches, as a user runs it."""

from __future__ import annotations

import pathlib
import subprocess

from tests.cli import klp
from tests.conftest import TESTDATA


def convert(arch: str, db: pathlib.Path, name: str, out: pathlib.Path, *extra: str,
            check: int | None = 0) -> subprocess.CompletedProcess[str]:
    t = TESTDATA / arch
    return klp("convert", str(t / name), "-o", str(out), "--symdb", str(db),
               "--symvers", str(t / "Module.symvers"), *extra, check=check)
