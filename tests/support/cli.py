"""Run the klp command line the way users do."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios


def klp(*args: str, check: int | None = 0, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """``python -m klp ARGS``; ``env`` adds to the environment."""
    proc = subprocess.run([sys.executable, "-m", "klp", *args], capture_output=True, text=True,
                          check=False, env={**os.environ, **env} if env else None)
    if check is not None:
        assert proc.returncode == check, proc.stderr + proc.stdout
    return proc


def on_terminal(*args: str, columns: int = 160, columns_env: bool = True) -> str:
    """``klp ARGS`` with stdout on a pseudo-terminal ``columns`` wide and 50 lines high
    (no colour): what a person sees, without the escape sequences of bold text. Unless
    ``columns_env`` is off, ``$COLUMNS`` and ``$LINES`` say the same size."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(TERM="xterm", NO_COLOR="1")
    if columns_env:
        env.update(COLUMNS=str(columns), LINES="50")
    proc = subprocess.Popen([sys.executable, "-m", "klp", *args], stdout=slave,
                            stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait() == 0
    assert proc.stderr is not None and proc.stderr.read() == b""
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
