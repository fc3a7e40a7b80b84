"""``klp symdb build`` against the upstream recipe, and ``klp symdb query``, on a Debian kernel.

Run: python bench/bench_symdb.py [--set amd64] [--runs 3] [--nm-runs 1] [--jobs N]
(needs tests/realdata/fetch.sh amd64, or another set with a VMLINUX).

The recipe is klp-convert v7's kbuild rule for symbols.klp 0.1, as the anchors
measured it: ``nm -f posix vmlinux | cut -d' ' -f1``, then for each module its
``*<name>`` line and ``nm -f posix <module>.ko | cut -d' ' -f1``, in sorted path
order, run by /bin/sh with the C locale. Both run in this process's session, one
after the other, so the ratio compares like with like on this machine's load.
Prints wall and CPU time (user + sys, the stable number on a shared machine),
the ratio, klp's peak RSS, and the time of ``klp symdb query`` for 10 names
(a fresh process each time, start-up included).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.realdata.paths import realdata_set  # noqa: E402

QUERY_NAMES = ("schedule", "s_next", "hash_lock", "set_root", "kmalloc_caches", "jiffies",
               "init_task", "vfs_read", "saved_command_line", "max_threads")

RECIPE = r"""
export LC_COLLATE=C LC_NUMERIC=C; unset LC_ALL
{
  echo klp-convert-symbol-data.0.1
  echo '*vmlinux'
  nm -f posix "$1" | cut -d' ' -f1
  while read -r ko; do
    echo "*$(basename "$ko" .ko)"
    nm -f posix "$ko" | cut -d' ' -f1
  done < "$2"
} > "$3"
"""


@dataclass
class Run:
    wall: float
    cpu: float  #: user + sys of the process and the children it waited for
    rss_mb: float  #: peak resident set of the largest process


def run(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` to completion; wall time and its own rusage (os.wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{err.decode(errors='replace')}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def median(runs: list[Run]) -> Run:
    return Run(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs),
               max(r.rss_mb for r in runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--set", default="amd64", help="real-data set (default amd64)")
    ap.add_argument("--runs", type=int, default=3, help="klp build runs (median)")
    ap.add_argument("--nm-runs", type=int, default=1,
                    help="recipe runs (median; ~90 s each; 0 skips the recipe)")
    ap.add_argument("--jobs", type=int, default=0, help="klp --jobs (0: every core)")
    ap.add_argument("--query-runs", type=int, default=7)
    args = ap.parse_args()
    env = realdata_set(args.set)
    if env is None or not env.get("VMLINUX"):
        sys.exit(f"set {args.set!r} with a vmlinux is missing: tests/realdata/fetch.sh {args.set}")
    vmlinux, modules_dir = env["VMLINUX"], env["MODULES_DIR"]
    modules = sorted(str(p) for p in pathlib.Path(modules_dir).rglob("*.ko"))
    kdir = env.get("KDIR", "")
    symvers = pathlib.Path(kdir) / "Module.symvers" if kdir else None
    penv = {**os.environ, "PYTHONPATH": str(ROOT)}
    klp = [sys.executable, "-m", "klp"]
    ncpu = len(os.sched_getaffinity(0))
    print(f"{args.set}: {env['KVER']}, vmlinux + {len(modules)} modules; {ncpu} cores, "
          f"load {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory(prefix="klp-bench-") as tmp:
        out = pathlib.Path(tmp) / "symbols.klp"
        build = [*klp, "symdb", "build", "--vmlinux", vmlinux, "--modules", modules_dir,
                 "-o", str(out), "--jobs", str(args.jobs)]
        if symvers is not None and symvers.is_file():
            build += ["--symvers", str(symvers)]
        run(build, penv)  # warm the page cache
        k = median([run(build, penv) for _ in range(args.runs)])
        size = out.stat().st_size
        lines = out.read_bytes().count(b"\n")

        order = pathlib.Path(tmp) / "modules.list"
        order.write_text("".join(m + "\n" for m in modules))
        recipe = ["/bin/sh", "-c", RECIPE, "recipe", vmlinux, str(order),
                  str(pathlib.Path(tmp) / "upstream.klp")]
        n = median([run(recipe) for _ in range(args.nm_runs)]) if args.nm_runs else None

        query = [*klp, "symdb", "query", "--symdb", str(out), *QUERY_NAMES]
        run(query, penv)
        q_table = median([run(query, penv) for _ in range(args.query_runs)])
        q_json = median([run([*query, "--json"], penv) for _ in range(args.query_runs)])
        start = time.perf_counter()
        from klp.symdb.format import SymbolDB

        found = SymbolDB(str(out)).lookup(QUERY_NAMES)
        in_process = time.perf_counter() - start

    print(f"klp symdb build  {k.wall:6.2f} s wall  {k.cpu:6.2f} s CPU  peak RSS {k.rss_mb:.0f} MB"
          f"  ({size / 1e6:.1f} MB, {lines:,} lines; median of {args.runs})")
    if n is not None:
        print(f"nm recipe        {n.wall:6.2f} s wall  {n.cpu:6.2f} s CPU  peak RSS "
              f"{n.rss_mb:.0f} MB  (median of {args.nm_runs})")
        print(f"ratio            {n.wall / k.wall:6.1f}x wall  {n.cpu / k.cpu:6.1f}x CPU")
    print(f"klp symdb query, 10 names: {q_table.wall:.3f} s (table), {q_json.wall:.3f} s (--json),"
          f" start-up included; lookup alone {in_process * 1000:.1f} ms "
          f"({sum(len(v) for v in found.values())} definitions)")


if __name__ == "__main__":
    main()
