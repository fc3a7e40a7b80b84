"""Run the klp command line the way users do."""

from __future__ import annotations

import os
import subprocess
import sys


def klp(*args: str, check: int | None = 0, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """``python -m klp ARGS``; ``env`` adds to the environment."""
    proc = subprocess.run([sys.executable, "-m", "klp", *args], capture_output=True, text=True,
                          check=False, env={**os.environ, **env} if env else None)
    if check is not None:
        assert proc.returncode == check, proc.stderr + proc.stdout
    return proc
