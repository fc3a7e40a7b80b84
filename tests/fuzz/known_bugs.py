"""A target with planted bugs, to test the engine itself (not a ``*_target``, so no
campaign runs it unless asked). Each seed is one letter repeated; an input does
what its most frequent letter says, which a few mutations do not change."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from klp.errors import InputError
from tests.fuzz.engine import Target

LETTERS = b"cvkhxm"


def seeds() -> list[bytes]:
    return [bytes([letter]) * 256 for letter in LETTERS]


def run(data: bytes, scratch: Path) -> None:
    (scratch / "used").write_bytes(data)  # the engine empties the folder after each input
    letter = max(LETTERS, key=data.count)
    if letter == ord("v"):
        raise ValueError("a planted bug")
    if letter == ord("k"):
        raise InputError("a clean refusal")
    if letter == ord("h"):
        time.sleep(600)
    if letter == ord("x"):
        os.kill(os.getpid(), signal.SIGKILL)
    if letter == ord("m"):
        bytearray(16 << 30)


TARGET = Target("known-bugs", seeds, run)
