"""``klp convert`` and ``klp symdb query``: the commands a build system and a person
call once and wait for, against the upstream C klp-convert.

The C tool cannot run here; its figures on this machine kind are quoted: on the
cloud-amd64 database 143 ms wall and 0.07 s CPU (issue 13, measured side by side
with klp), on the full amd64 one 0.19 s wall and about 0.18 s CPU, 189 MB
(../shared/facts/anchors.md). ``python -c pass`` runs in the same session, so
the floor every Python command pays is visible beside klp's own work.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

from bench.common import ROOT, Goal, Run, floors, klp_command, median, realdata, run

#: The C tool: (wall s, CPU s, peak RSS MB), by the database it read.
C_TOOL = {"cloud-amd64": Run(0.143, 0.07, 68), "amd64": Run(0.19, 0.18, 189)}
#: Ten names a person asks about: unique ones, ambiguous ones, data and functions.
QUERY_NAMES = ("schedule", "s_next", "hash_lock", "set_root", "kmalloc_caches", "jiffies",
               "init_task", "vfs_read", "saved_command_line", "max_threads")
QUERY_LIMIT = 0.1


def measure(runs: int) -> list[Goal]:
    cloud, full = realdata("cloud-amd64"), realdata("amd64")
    if cloud is None or full is None:
        sys.exit("fetch the data first: tests/realdata/fetch.sh cloud-amd64 amd64")
    from tests.e2e.harness import Kernel, build_module

    kernel = Kernel.from_env(cloud)
    goals = []
    with tempfile.TemporaryDirectory(prefix="klp-bench-") as tmp:
        work = pathlib.Path(tmp)
        ko = build_module(kernel, ROOT / "tests/e2e/modules/vmlinux", work / "build").ko
        klp = klp_command()
        here, floor = floors(runs)
        print(f"python -c pass           {floor.wall:6.3f} s wall {floor.cpu:6.3f} s CPU "
              f"{floor.rss_mb:5.0f} MB   (the floor of any Python command, in the clean "
              "environment klp runs in here)")
        print(f"python -c pass           {here.wall:6.3f} s wall {here.cpu:6.3f} s CPU "
              f"{here.rss_mb:5.0f} MB   (this interpreter: what its site-packages' .pth "
              "files import at start-up)")
        for name, env in (("cloud-amd64", cloud), ("amd64", full)):
            db = work / f"{name}.klp"
            run([*klp, "symdb", "build", "--vmlinux", env["VMLINUX"], "--modules",
                 env["MODULES_DIR"], "-o", str(db)])
            # the full kernel's database belongs to another kernel than the cloud
            # module: --force makes that a warning, as the anchor's run did
            convert = [*klp, "convert", str(ko), "-o", str(work / "out.ko"), "--symdb",
                       str(db), "--symvers", str(kernel.symvers),
                       *(["--force"] if name != "cloud-amd64" else [])]
            k, c = median(convert, runs), C_TOOL[name]
            print(f"klp convert, {name:<11} {k.wall:6.3f} s wall {k.cpu:6.3f} s CPU "
                  f"{k.rss_mb:5.0f} MB   (C klp-convert {c.wall:.3f} s, {c.cpu:.2f} s CPU, "
                  f"{c.rss_mb:.0f} MB; klp's own work {k.wall - floor.wall:.3f} s)")
            goals += [Goal(f"convert, {name} DB: wall <= C klp-convert", k.wall, c.wall),
                      Goal(f"convert, {name} DB: CPU <= C klp-convert", k.cpu, c.cpu,
                           note=f"(python -c pass: {floor.cpu:.3f} s)")]
            query = [*klp, "symdb", "query", "--symdb", str(db), *QUERY_NAMES]
            for form, extra in (("table", []), ("--json", ["--json"])):
                q = median([*query, *extra], runs)
                print(f"klp symdb query {form:<7} {q.wall:6.3f} s wall {q.cpu:6.3f} s CPU "
                      f"{q.rss_mb:5.0f} MB   (10 names, {name})")
                goals.append(Goal(f"symdb query of 10 names, {name} DB, {form}", q.wall,
                                  QUERY_LIMIT))
    return goals
