"""Shared fixtures: the bundled sample kernels' symbol databases."""

from __future__ import annotations

import pathlib

import pytest

from tests.support.paths import ARCHES
from tests.support.symdb import build


@pytest.fixture(scope="session")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """symbols.klp of each bundled sample kernel."""
    out = tmp_path_factory.mktemp("symdb")
    return {arch: build(arch, out) for arch in ARCHES}
