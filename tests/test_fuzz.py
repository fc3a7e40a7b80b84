"""A bounded fuzz campaign for every target in tests/fuzz: no finding is allowed.

The long campaigns run by hand (``python -m tests.fuzz TARGET -n N``); this one
keeps each fixed bug fixed on the inputs of a fixed seed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.engine import campaign, load_target, make_input, replay, target_modules

#: Inputs per target: about 35 s for codec and convert on a two-core machine.
INPUTS = {"codec": 5000, "convert": 2500}
OTHERS = 1000

TARGETS = target_modules()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_no_findings(name: str, tmp_path: Path) -> None:
    report = campaign(TARGETS[name], INPUTS.get(name, OTHERS), seed=2024, out=tmp_path,
                      time_limit=10.0)
    assert report.inputs == INPUTS.get(name, OTHERS)
    assert report.findings == {}, report.summary()


def test_engine_finds_planted_bugs(tmp_path: Path) -> None:
    """Tracebacks, hangs, crashes and blow-ups are findings; each is saved to replay."""
    module = "tests.fuzz.known_bugs"
    report = campaign(module, 60, seed=1, out=tmp_path, time_limit=0.5)
    assert report.inputs == 60 == report.clean + report.klp_errors + sum(
        f.count for f in report.findings.values())
    assert report.clean and report.klp_errors
    kinds = {key.split(" ")[0] for key in report.findings}
    assert kinds == {"ValueError", "Timeout", "Crash", "MemoryError"}, report.summary()
    assert "Crash (signal SIGKILL)" in report.findings
    planted = next(f for key, f in report.findings.items() if key.startswith("ValueError"))
    assert "known_bugs.py" in planted.key and planted.saved is not None
    saved = next(planted.saved.glob("input-*.bin")).read_bytes()
    target = load_target(module)
    assert saved == make_input(target, target.seeds(), 1, planted.first)
    with pytest.raises(ValueError, match="a planted bug"):
        replay(module, saved)
