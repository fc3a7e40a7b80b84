"""Ctrl-C: a terminal sends SIGINT to klp and its worker processes alike. klp stops
at once (exit 130, one line): its workers leave the signal to it and finish only the
batch in hand. No file is left."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.support.paths import ROOT, TESTDATA


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_symdb_build_stops_on_ctrl_c(tmp_path: pathlib.Path, jobs: str) -> None:
    """Interrupted a second into the scan of 40,000 modules (links to one small module:
    several seconds of work), in klp itself with -j 1, with workers with -j 2."""
    modules = tmp_path / "modules"
    modules.mkdir()
    first = modules / "m0.ko"
    shutil.copy(TESTDATA / "x86_64" / "modules" / "fixture-mod.ko", first)
    for i in range(1, 40_000):
        os.link(first, modules / f"m{i}.ko")
    out = tmp_path / "symbols.klp"
    proc = subprocess.Popen([sys.executable, "-m", "klp", "symdb", "build", "--modules",
                             str(modules), "-o", str(out), "-j", jobs],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=_interruptible)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # the whole process group, as a terminal does
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert err == "klp: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["modules"]


def _interruptible() -> None:
    """SIGINT as a terminal's foreground job has it: a test run started in the
    background (``.ci/run &``) inherits it ignored, and so would klp."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_pool_takes_ctrl_c_only_when_it_is_shut_down() -> None:
    """While the pool runs, Ctrl-C only sets a flag: an exception raised inside the
    executor's locking would leave its management thread waiting forever (klp hung
    instead of stopping, about once in 50 builds). It is raised once the pool is down,
    and a SIGINT the process ignores stays ignored."""
    from klp.symdb.build import _deferred_interrupt

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), _deferred_interrupt() as interrupted:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the handler runs in the main thread, between bytecodes
            assert interrupted
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with _deferred_interrupt() as interrupted:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        assert not interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_as_an_input_is_opened_stays_an_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C that lands just after the file object took the descriptor: the descriptor
    is closed once (by the file object), so the interrupt is not turned into "Bad file
    descriptor", an unreadable module that failed the build with -j 1."""
    import builtins

    import klp.inputs

    def interrupted_open(fd: int, mode: str) -> object:
        with builtins.open(fd, mode):  # made, then dropped: it closes fd
            raise KeyboardInterrupt

    monkeypatch.setattr(klp.inputs, "open", interrupted_open, raising=False)
    with pytest.raises(KeyboardInterrupt):
        klp.inputs.open_input(str(TESTDATA / "x86_64" / "modules" / "fixture-mod.ko"))
