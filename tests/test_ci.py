"""CI fetches every real-data set the tests can ask for, so it passes from an empty cache."""

from __future__ import annotations

import re

from tests.conftest import ROOT
from tests.realdata.paths import SETS


def test_ci_fetches_every_set() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    fetched = {word for line in re.findall(r"^\s*tests/realdata/fetch\.sh (.*)$", script, re.M)
               for word in line.split()}
    assert set(SETS) <= fetched, f".ci/run does not fetch {sorted(set(SETS) - fetched)}"
