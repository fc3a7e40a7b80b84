"""Run the klp command line the way users do."""

from __future__ import annotations

import subprocess
import sys


def klp(*args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "klp", *args], capture_output=True, text=True,
                          check=False)
    if check is not None:
        assert proc.returncode == check, proc.stderr + proc.stdout
    return proc
