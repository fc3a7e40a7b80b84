"""The tree stays ruff- and mypy-clean (the project's own promise)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("tool", [["ruff", "check", "klp", "tests", "tools"], ["mypy"]],
                         ids=["ruff", "mypy"])
def test_clean(tool: list[str]) -> None:
    if shutil.which(tool[0]) is None:
        pytest.skip(f"{tool[0]} not installed")
    cmd = [sys.executable, "-m", *tool]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
