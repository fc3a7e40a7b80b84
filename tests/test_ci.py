"""CI fetches every real-data set and builds every kernel the tests can ask for, so it
passes from an empty cache."""

from __future__ import annotations

import re

from tests.e2e.harness import DEBIAN, KERNELS
from tests.realdata.paths import SETS
from tests.support.paths import ROOT


def test_ci_fetches_every_set() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    fetched = {word for line in re.findall(r"^\s*tests/realdata/fetch\.sh (.*)$", script, re.M)
               for word in line.split()}
    assert set(SETS) <= fetched, f".ci/run does not fetch {sorted(set(SETS) - fetched)}"


def test_ci_builds_every_tiny_kernel() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    built = {word for line in re.findall(r"^\s*tests/e2e/kernel/build-kernel\.sh (.*)$", script,
                                         re.M) for word in line.split()}
    tiny = set(KERNELS) - set(DEBIAN)
    assert tiny <= built, f".ci/run does not build {sorted(tiny - built)}"
