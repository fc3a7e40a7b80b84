"""The fuzzing engine: seeds, mutations and campaigns (work in progress)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """One thing to fuzz.

    ``run`` processes one input; anything but a :class:`klp.errors.KlpError`
    escaping it is a finding. ``scratch`` is an empty folder ``run`` may write in.
    """

    name: str
    #: Seed inputs (built from testdata/).
    seeds: Callable[[], list[bytes]]
    run: Callable[[bytes, Path], None]
    #: A structure-aware mutation; None: generic byte-level mutations only.
    mutate: Callable[[random.Random, bytes], bytes] | None = None
