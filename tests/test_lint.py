"""The tree stays ruff- and mypy-clean (the project's own promise)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support.paths import ROOT


@pytest.mark.parametrize("tool", [["ruff", "check", "klp", "tests", "tools"], ["mypy"]],
                         ids=["ruff", "mypy"])
def test_clean(tool: list[str]) -> None:
    if shutil.which(tool[0]) is None:
        pytest.skip(f"{tool[0]} not installed")
    cmd = [sys.executable, "-m", *tool]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_codec_validates_without_assert() -> None:
    """``python -O`` drops assert statements: the codec checks with real errors."""
    import ast

    found = [f"{path.relative_to(ROOT)}:{node.lineno}"
             for path in sorted((ROOT / "klp" / "elfcodec").glob("*.py"))
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Assert)]
    assert found == []
