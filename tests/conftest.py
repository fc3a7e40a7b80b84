"""Shared fixtures: the committed test objects and the real-kernel cache."""

from __future__ import annotations

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
TESTDATA = ROOT / "testdata"
ARCHES = ("x86_64", "arm64", "ppc64le", "s390x")


def fixture_objects() -> list[pathlib.Path]:
    """Every committed ELF object of the four architectures (not the huge xindex one)."""
    found: list[pathlib.Path] = []
    for arch in ARCHES:
        folder = TESTDATA / arch
        found += sorted(p for p in folder.rglob("*") if p.suffix in (".o", ".ko"))
        if (folder / "vmlinux").exists():
            found.append(folder / "vmlinux")
    return found


def require_realdata() -> bool:
    return os.environ.get("KLP_REQUIRE_REALDATA") == "1"


def realdata_or_skip(name: str) -> dict[str, str]:
    """The env of a real-data set, or a skip (a failure when CI requires the data)."""
    from tests.realdata.paths import realdata_set

    found = realdata_set(name)
    if found is None:
        if require_realdata():
            pytest.fail(f"real-data set {name!r} is missing (run tests/realdata/fetch.sh {name})")
        pytest.skip(f"real-data set {name!r} not fetched (tests/realdata/fetch.sh {name})")
    return found


@pytest.fixture(scope="session")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """symbols.klp of each bundled sample kernel."""
    from tests.symdb.test_fixtures import build

    out = tmp_path_factory.mktemp("symdb")
    return {arch: build(arch, out) for arch in ARCHES}
