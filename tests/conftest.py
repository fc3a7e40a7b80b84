"""Shared fixtures: the bundled sample kernels' symbol databases, and their
livepatch-fixture.ko converted."""

from __future__ import annotations

import pathlib

import pytest

from klp.convert.api import convert_module
from tests.support.paths import ARCHES, TESTDATA
from tests.support.symdb import build


@pytest.fixture(scope="session")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """symbols.klp of each bundled sample kernel."""
    out = tmp_path_factory.mktemp("symdb")
    return {arch: build(arch, out) for arch in ARCHES}


@pytest.fixture(scope="session")
def converted(dbs: dict[str, pathlib.Path],
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """livepatch-fixture.ko of each architecture, converted by klp (without verify, so
    that verify's own verdict is what these tests see)."""
    out = tmp_path_factory.mktemp("converted")
    done = {}
    for arch in ARCHES:
        t = TESTDATA / arch
        done[arch] = out / f"{arch}.ko"
        outcome = convert_module(t / "livepatch-fixture.ko", output=done[arch],
                                 symdb=dbs[arch], symvers=t / "Module.symvers", verify=False)
        assert not outcome.problems, outcome.report
    return done
