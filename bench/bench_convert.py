"""klp convert against the upstream C klp-convert's figures, on a full-kernel symdb.

Run: python bench/bench_convert.py   (needs tests/realdata/fetch.sh cloud-amd64 amd64)
Builds the e2e livepatch module against the cloud-amd64 headers, a symdb of the
full Debian amd64 kernel (vmlinux + ~4,000 modules, as the anchor used), then
runs `klp convert` as a user does (a new Python process each time, start-up
included) and reports the median wall time and peak RSS. The C tool's figures on
the same kind of input (../shared/facts/anchors.md, measured on this machine
kind) were 0.19 s and 189 MB; the C tool cannot run here, so they are quoted.
"""

from __future__ import annotations

import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import Kernel, build_module  # noqa: E402
from tests.realdata.paths import realdata_set  # noqa: E402

C_TOOL_SECONDS, C_TOOL_MB = 0.19, 189.0
RUNS = 15


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    cloud, full = realdata_set("cloud-amd64"), realdata_set("amd64")
    if cloud is None or full is None:
        sys.exit("fetch the data first: tests/realdata/fetch.sh cloud-amd64 amd64")
    kernel = Kernel.from_env(cloud)
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        built = build_module(kernel, ROOT / "tests/e2e/modules/vmlinux", work / "build")
        db = work / "symbols.klp"
        klp = [sys.executable, "-m", "klp"]
        # as an installed package is: byte-compiled (pip compiles wheels on install)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "klp")],
                       check=True)
        build_wall, build_mb = run([*klp, "symdb", "build", "--vmlinux", full["VMLINUX"],
                                    "--modules", full["MODULES_DIR"], "-o", str(db)])
        convert = [*klp, "convert", str(built.ko), "-o", str(work / "out.ko"), "--symdb",
                   str(db), "--symvers", str(kernel.symvers),
                   "--force"]  # the anchor paired the cloud module with the full kernel's DB
        run(convert)  # warm the page cache
        samples = [run(convert) for _ in range(RUNS)]
        wall = statistics.median(s[0] for s in samples)
        rss = statistics.median(s[1] for s in samples)
        bare = statistics.median(run([sys.executable, "-c", "pass"])[0] for _ in range(RUNS))
        print(f"symdb of the full amd64 kernel: {db.stat().st_size / 1e6:.1f} MB, built in "
              f"{build_wall:.2f} s ({build_mb:.0f} MB peak)")
        print(f"klp convert {built.ko.name}: median {wall:.3f} s "
              f"(min {min(s[0] for s in samples):.3f}), peak RSS {rss:.0f} MB over {RUNS} runs")
        print(f"the same Python starting and doing nothing: median {bare:.3f} s "
              f"(klp's own work: {wall - bare:.3f} s)")
        print(f"C klp-convert (anchor): {C_TOOL_SECONDS:.2f} s, {C_TOOL_MB:.0f} MB -> "
              f"klp is {C_TOOL_SECONDS / wall:.2f}x the speed, {rss / C_TOOL_MB:.2f}x the memory")


if __name__ == "__main__":
    main()
