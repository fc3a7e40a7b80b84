"""Symbol databases of the bundled kernels, and ``klp convert`` on their livepatches."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

from tests.cli import klp
from tests.conftest import ARCHES, TESTDATA
from tests.symdb.test_fixtures import build


@pytest.fixture(scope="session")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    out = tmp_path_factory.mktemp("symdb")
    return {arch: build(arch, out) for arch in ARCHES}


def convert(arch: str, db: pathlib.Path, name: str, out: pathlib.Path, *extra: str,
            check: int | None = 0) -> subprocess.CompletedProcess[str]:
    t = TESTDATA / arch
    return klp("convert", str(t / name), "-o", str(out), "--symdb", str(db),
               "--symvers", str(t / "Module.symvers"), *extra, check=check)
