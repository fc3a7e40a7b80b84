"""``klp symdb build`` against the upstream recipe, on a whole Debian kernel.

The recipe is klp-convert v7's kbuild rule for symbols.klp 0.1, as the anchors
measured it: ``nm -f posix vmlinux | cut -d' ' -f1``, then for each module its
``*<name>`` line and ``nm -f posix <module>.ko | cut -d' ' -f1``, in sorted path
order, run by /bin/sh with the C locale (about 90 s for the full amd64 kernel).
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile

from bench.common import Goal, klp_command, median, realdata

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
#: klp's promise: at least this many times faster than the recipe.
AHEAD = 20.0


def measure(set_name: str, runs: int, recipe_runs: int) -> list[Goal]:
    env = realdata(set_name)
    if env is None or not env.get("VMLINUX"):
        sys.exit(f"set {set_name!r} with a vmlinux is missing: tests/realdata/fetch.sh "
                 f"{set_name}")
    modules = sorted(str(p) for p in pathlib.Path(env["MODULES_DIR"]).rglob("*.ko"))
    symvers = pathlib.Path(env.get("KDIR", "")) / "Module.symvers"
    klp = klp_command()
    with tempfile.TemporaryDirectory(prefix="klp-bench-") as tmp:
        out = pathlib.Path(tmp) / "symbols.klp"
        build = [*klp, "symdb", "build", "--vmlinux", env["VMLINUX"], "--modules",
                 env["MODULES_DIR"], "-o", str(out)]
        if env.get("KDIR") and symvers.is_file():
            build += ["--symvers", str(symvers)]
        k = median(build, runs)
        print(f"klp symdb build   {k.wall:6.2f} s wall {k.cpu:6.2f} s CPU {k.rss_mb:5.0f} MB "
              f"  ({set_name}: vmlinux + {len(modules):,} modules, {os.cpu_count()} cores; "
              f"{out.stat().st_size / 1e6:.1f} MB written)")
        order = pathlib.Path(tmp) / "modules.list"
        order.write_text("".join(m + "\n" for m in modules))
        recipe = ["/bin/sh", "-c", RECIPE, "recipe", env["VMLINUX"], str(order),
                  str(pathlib.Path(tmp) / "upstream.klp")]
        n = median(recipe, recipe_runs)
        print(f"nm recipe         {n.wall:6.2f} s wall {n.cpu:6.2f} s CPU {n.rss_mb:5.0f} MB"
              f"   -> klp is {n.wall / k.wall:.1f}x faster (wall), {n.cpu / k.cpu:.1f}x (CPU)")
    return [Goal(f"symdb build, {set_name}: >= {AHEAD:.0f}x the nm recipe (wall)", k.wall,
                 n.wall / AHEAD, note=f"({n.wall / k.wall:.1f}x)"),
            Goal(f"symdb build, {set_name}: >= {AHEAD:.0f}x the nm recipe (CPU)", k.cpu,
                 n.cpu / AHEAD, note=f"({n.cpu / k.cpu:.1f}x)")]
