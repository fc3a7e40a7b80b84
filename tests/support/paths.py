"""Where the test data is: the committed samples (testdata/) and the real-kernel cache."""

from __future__ import annotations

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"
ARCHES = ("x86_64", "arm64", "ppc64le", "s390x")
#: binutils' linker for each architecture (Debian's cross packages)
LINKERS = {
    "x86_64": "ld",
    "arm64": "aarch64-linux-gnu-ld",
    "ppc64le": "powerpc64le-linux-gnu-ld",
    "s390x": "s390x-linux-gnu-ld",
}


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
