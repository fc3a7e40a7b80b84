"""``python -m tests.fuzz TARGET... -n N``: run fuzz campaigns and print what they found."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.fuzz.engine import Report, campaign, replay, target_modules


def main(argv: list[str] | None = None) -> int:
    known = target_modules()
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("targets", nargs="+", metavar="TARGET",
                        help=f"what to fuzz: {', '.join(known)}")
    parser.add_argument("-n", type=int, default=1000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed")
    parser.add_argument("--out", type=Path, help="save each distinct finding's input here")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes per target")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per input")
    parser.add_argument("--memory-limit", type=int, default=2048,
                        help="address space of a worker, MiB")
    parser.add_argument("--replay", type=Path, metavar="FILE",
                        help="run FILE through the (one) target here, traceback and all")
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets if t not in known]
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)} (have {', '.join(known)})")
    if args.replay is not None:
        if len(args.targets) != 1:
            parser.error("--replay takes one target")
        replay(known[args.targets[0]], args.replay.read_bytes())
        print("no finding")
        return 0
    found = 0
    for name in args.targets:
        last = time.monotonic()

        def progress(report: Report) -> None:
            nonlocal last
            if time.monotonic() - last > 60:
                last = time.monotonic()
                print(f"  ... {report.target}: {report.inputs} inputs, "
                      f"{len(report.findings)} findings", file=sys.stderr, flush=True)

        report = campaign(known[name], args.n, seed=args.seed, out=args.out, jobs=args.jobs,
                          time_limit=args.time_limit, memory_limit=args.memory_limit << 20,
                          progress=progress)
        print(report.summary(), flush=True)
        found += len(report.findings)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
