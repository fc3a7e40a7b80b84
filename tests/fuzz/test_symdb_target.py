"""The symdb fuzz target itself: its seeds read cleanly, its mutations end in KlpErrors."""

from __future__ import annotations

import contextlib
import pathlib
import random

from klp.errors import KlpError
from klp.symdb.format import HEADER, UPSTREAM_HEADER
from tests.fuzz.symdb_target import TARGET


def test_seeds_cover_both_dialects_and_run_clean(tmp_path: pathlib.Path) -> None:
    seeds = TARGET.seeds()
    assert sum(s.startswith(HEADER + b"\n") for s in seeds) >= 5
    assert sum(s.startswith(UPSTREAM_HEADER) for s in seeds) >= 5
    for data in seeds:
        TARGET.run(data, tmp_path)


def test_mutated_inputs_end_in_klp_errors(tmp_path: pathlib.Path) -> None:
    assert TARGET.mutate is not None
    rng = random.Random(0)
    seeds = TARGET.seeds()
    changed = 0
    for _ in range(200):
        seed = rng.choice(seeds)
        data = TARGET.mutate(rng, seed)
        changed += data != seed
        with contextlib.suppress(KlpError):
            TARGET.run(data, tmp_path)
    assert changed > 180
