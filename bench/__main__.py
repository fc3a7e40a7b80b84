"""Every benchmark in one run, each against its reference measured in the same run.

Run: ``python -m bench [convert] [elf] [symdb] [codec] [--runs N] [--quick]``
(all of them by default; they need ``tests/realdata/fetch.sh cloud-amd64 amd64``).
Prints each figure as it is measured, then every goal with klp's figure and its
limit. ``--quick`` builds the symbol database of cloud-amd64 instead of the full
amd64 kernel for the nm comparison (the recipe then takes 40 s instead of 90).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

from bench.common import Goal, byte_compile

BENCHES = ("convert", "elf", "symdb", "codec")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("benches", nargs="*", choices=[[], *BENCHES], metavar="BENCH",
                        help=f"which to run ({', '.join(BENCHES)}; default all)")
    parser.add_argument("--runs", type=int, default=7, help="warm runs per figure (median)")
    parser.add_argument("--quick", action="store_true",
                        help="the nm comparison on cloud-amd64 (1,121 modules) only")
    args = parser.parse_args()
    chosen = args.benches or BENCHES
    byte_compile()
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    goals: list[Goal] = []
    for name in BENCHES:
        if name not in chosen:
            continue
        print(f"\n== {name}")
        if name == "convert":
            from bench import bench_convert

            goals += bench_convert.measure(args.runs)
        elif name == "elf":
            from bench import bench_elf

            goals += bench_elf.measure(max(3, args.runs // 2))
        elif name == "symdb":
            from bench import bench_symdb

            goals += bench_symdb.measure("cloud-amd64" if args.quick else "amd64", 3, 1)
        else:
            from bench import bench_codec

            goals += bench_codec.measure(5)
    print(f"\n== goals ({sum(g.met for g in goals)} of {len(goals)} met)")
    for goal in goals:
        print(goal.line())


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
