"""What every benchmark shares: running a command as a user does, and the goals.

Each figure is a whole process (Python's start-up included, as a build system
or a person pays it), measured with ``os.wait4`` so CPU time and peak RSS are the
child's own. Reference tools run in the same session, one after the other, so a
ratio compares like with like on this machine's load.

klp runs in a clean virtual environment made for the run, as a user's
``pip install klp`` would: an interpreter's site-packages may carry ``.pth`` files
that import code at every start (an editable install's finder, a CA-bundle hook),
which is not klp's to pay and would hide klp's own start-up inside the floor. Both
floors are printed.
"""

from __future__ import annotations

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
#: klp's dependencies (pyproject.toml), found where this interpreter has them; the
#: folders that hold them hold what they need in turn.
DEPENDENCIES = ("construct", "rich")
#: The children import klp from this checkout (the clean interpreter through its
#: .pth file, this one through PYTHONPATH).
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def clean_python() -> str:
    """An interpreter like a fresh virtual environment's: this Python, whose
    site-packages holds one ``.pth`` file of plain paths (this checkout and the
    folders of klp's dependencies), so nothing runs at start-up that a user's
    ``pip install klp`` would not run. Made once per process, removed at exit."""
    global _CLEAN
    if _CLEAN is None:
        import atexit
        import importlib.util
        import shutil
        import sysconfig

        folder = tempfile.mkdtemp(prefix="klp-bench-venv-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], check=True)
        paths = [str(ROOT)]
        for name in DEPENDENCIES:
            spec = importlib.util.find_spec(name)
            if spec is None or not spec.submodule_search_locations:
                sys.exit(f"{name} is not installed: pip install -e .")
            parent = str(pathlib.Path(next(iter(spec.submodule_search_locations))).parent)
            paths += [parent] if parent not in paths else []
        site = sysconfig.get_path("purelib", vars={"base": folder, "platbase": folder})
        pathlib.Path(site, "klp-bench.pth").write_text("\n".join(paths) + "\n")
        _CLEAN = str(pathlib.Path(folder, "bin", "python"))
    return _CLEAN


_CLEAN: str | None = None


def klp_command() -> list[str]:
    """``python -m klp`` in the clean interpreter."""
    return [clean_python(), "-m", "klp"]


def floors(runs: int) -> tuple[Run, Run]:
    """``python -c pass`` in this interpreter and in the clean one."""
    return (median([sys.executable, "-c", "pass"], runs),
            median([clean_python(), "-c", "pass"], runs))


@dataclass(frozen=True)
class Run:
    wall: float  #: seconds
    cpu: float  #: user + sys seconds of the process and the children it waited for
    #: peak resident set of its largest process (Linux counts the parent's peak in a
    #: child it starts, so no child shows less than this process)
    rss_mb: float
    out_mb: float = 0.0  #: what it printed, when read through a pipe


def run(cmd: list[str], *, ok: tuple[int, ...] = (0,), piped: bool = False) -> Run:
    """Run ``cmd`` to completion; exit with its stderr if it fails. Its output goes to
    /dev/null, or with ``piped`` into a pipe this process reads and drops (as a
    person's ``| less`` would)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if piped else subprocess.DEVNULL,
                                stderr=err, env=ENV)
        size = 0
        if proc.stdout is not None:
            while chunk := os.read(proc.stdout.fileno(), 1 << 20):
                size += len(chunk)
            proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            err.seek(0)
            sys.exit(f"{shlex.join(cmd)} failed ({code}):\n"
                     f"{err.read().decode(errors='replace')}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, size / 1e6)


def median(cmd: list[str], runs: int, *, ok: tuple[int, ...] = (0,), piped: bool = False,
           warm: bool = True) -> Run:
    """The median wall and CPU time, and the largest peak RSS, of ``runs`` runs (after
    one that warms the page cache, unless ``warm`` is off)."""
    if warm:
        run(cmd, ok=ok, piped=piped)
    done = [run(cmd, ok=ok, piped=piped) for _ in range(runs)]
    return Run(statistics.median(r.wall for r in done), statistics.median(r.cpu for r in done),
               max(r.rss_mb for r in done), done[0].out_mb)


@dataclass(frozen=True)
class Goal:
    """One promise of issue 13 (or one kept from before): klp's figure and the limit."""

    what: str
    klp: float
    limit: float
    unit: str = "s"
    note: str = ""

    @property
    def met(self) -> bool:
        return self.klp <= self.limit

    def line(self) -> str:
        mark = "ok  " if self.met else "MISS"
        return (f"{mark} {self.what:<58} {self.klp:8.3f} {self.unit:<2} <= {self.limit:8.3f}"
                f" {self.unit:<2} {self.note}")


def byte_compile() -> None:
    """As an installed package is (pip compiles on install); this environment may set
    PYTHONDONTWRITEBYTECODE, which would leave stale caches and time the compiler."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "klp")], check=True)


def realdata(name: str) -> dict[str, str] | None:
    sys.path.insert(0, str(ROOT))
    from tests.realdata.paths import realdata_set

    return realdata_set(name)
