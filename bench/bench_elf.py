"""``klp elf`` against binutils readelf, on a big module and a debug vmlinux.

For xfs.ko and the -dbg vmlinux (13 million relocations) of Debian's cloud-amd64
kernel: ``readelf -SW``, ``-sW``, ``-rW`` and ``klp elf sections|symbols|relocs``, as
the table (into a pipe, so the plain form) and with ``--json``, each a fresh process
whose output is read and dropped; one run for the vmlinux's relocations (8 s of
readelf), the median of several for the rest. The goal of issue 13: within 10x of
readelf. For the small listings Python's start-up alone is more than that.
"""

from __future__ import annotations

import pathlib
import sys

from bench.common import Goal, Run, floors, klp_command, median, realdata

GOAL = 10.0
XFS = "kernel/fs/xfs/xfs.ko"
VIEWS = (("sections", "-SW"), ("symbols", "-sW"), ("relocs", "-rW"))


def _cell(r: Run, base: Run | None = None) -> str:
    text = f"{r.wall:8.3f} s {r.rss_mb:5.0f} MB"
    return text if base is None else f"{text} {r.wall / base.wall:6.1f}x"


def measure(runs: int) -> list[Goal]:
    env = realdata("cloud-amd64")
    if env is None:
        sys.exit("fetch the data first: tests/realdata/fetch.sh cloud-amd64")
    files = [("xfs.ko", str(pathlib.Path(env["MODULES_DIR"]) / XFS))]
    if env.get("VMLINUX") and pathlib.Path(env["VMLINUX"]).is_file():
        files.append(("vmlinux", env["VMLINUX"]))
    klp = klp_command()
    here, floor = floors(runs)
    print(f"python -c pass {floor.wall:.3f} s in the clean environment klp runs in, "
          f"{here.wall:.3f} s in this interpreter")
    print(f"{'file':8} {'view':9} {'readelf':>17}  {'klp elf (table, piped)':>24}  "
          f"{'klp elf --json':>24}")
    goals = []
    for label, path in files:
        for view, flag in VIEWS:
            n = 1 if label == "vmlinux" and view == "relocs" else runs
            base = median(["readelf", flag, path], n, piped=True)
            table = median([*klp, "elf", view, path], n, piped=True)
            as_json = median([*klp, "elf", view, path, "--json"], n, piped=True)
            print(f"{label:8} {view:9} {_cell(base)}  {_cell(table, base)}  "
                  f"{_cell(as_json, base)}  ({base.out_mb:.0f} / {table.out_mb:.0f} / "
                  f"{as_json.out_mb:.0f} MB out)", flush=True)
            for form, r in (("table", table), ("--json", as_json)):
                goals.append(Goal(f"elf {view} {label} ({form}): within {GOAL:g}x readelf",
                                  r.wall, GOAL * base.wall,
                                  note=f"({r.wall / base.wall:.1f}x, {r.rss_mb:.0f} MB; "
                                       f"python -c pass alone {floor.wall / base.wall:.1f}x)"))
    return goals
