"""klp.mk's own logic, on fake trees (no kernel build): what it runs, what it leaves alone.

The kernel-build flows themselves run on a real tiny kernel in tests/e2e/kernel.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.support.paths import ROOT

KLP_MK = ROOT / "klp" / "kbuild" / "klp.mk"
KLP = f"{sys.executable} -m klp"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(tree: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    """klp.mk's klp steps (KLP_STAGE=post: no kbuild), with a stdin that never ends,
    as a terminal's would not: a command reading it would hang until the timeout."""
    never_ends, keep_open = os.pipe()
    try:
        return subprocess.run(["make", "-f", str(KLP_MK), "-C", str(tree), "KLP_STAGE=post",
                               f"KLP={KLP}", *args], stdin=never_ends, capture_output=True,
                              text=True, timeout=60, check=False,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        pytest.fail(f"make {' '.join(args)} waited for input (hung)")
    finally:
        os.close(never_ends)
        os.close(keep_open)


def test_no_modules_livepatch_does_not_read_the_terminal(tmp_path: pathlib.Path) -> None:
    """Kernels without the klp-convert patches (Debian's) write no modules.livepatch."""
    tree, ext = tmp_path / "tree", tmp_path / "ext"
    tree.mkdir()
    ext.mkdir()
    (ext / "modules.order").write_text("")
    symdb = tmp_path / "symbols.klp"
    symdb.write_text("")
    proc = make(tree, f"M={ext}", f"KLP_SYMDB={symdb}", "klp-convert")
    assert proc.returncode == 0, proc.stderr
    assert "no livepatch module" in proc.stdout


def test_a_given_symdb_is_never_rebuilt(tmp_path: pathlib.Path) -> None:
    """A tree with a vmlinux would be scanned into the default database; the user's
    KLP_SYMDB (built with the modules the patches target) is used as it is."""
    tree, ext = tmp_path / "tree", tmp_path / "ext"
    tree.mkdir()
    ext.mkdir()
    (tree / "vmlinux").write_bytes(b"not scanned")
    (ext / "modules.order").write_text("")
    symdb = tmp_path / "mine.klp"
    symdb.write_bytes(b"the user's database")
    proc = make(tree, f"M={ext}", f"KLP_SYMDB={symdb}")
    assert proc.returncode == 0, proc.stderr
    assert symdb.read_bytes() == b"the user's database"
    assert not (tree / "symbols.klp").exists() and not (tree / ".symbols.klp.stamp").exists()
    refused = make(tree, f"M={ext}", f"KLP_SYMDB={symdb}", "klp-symdb")
    assert refused.returncode != 0 and "does not build it" in refused.stderr
    cleaned = make(tree, f"KLP_SYMDB={symdb}", "klp-clean")  # the tree's, not M='s
    assert cleaned.returncode == 0, cleaned.stderr
    assert symdb.read_bytes() == b"the user's database"


def test_klp_clean_says_it_restores(tmp_path: pathlib.Path) -> None:
    tree, ext = tmp_path / "tree", tmp_path / "ext"
    tree.mkdir()
    ext.mkdir()
    (ext / "patch.ko").write_bytes(b"converted")
    (ext / ".patch.ko.klp-orig").write_bytes(b"as kbuild linked it")
    (ext / ".patch.ko.klp-stamp").write_text("hash\n")
    proc = make(tree, f"M={ext}", "klp-clean")
    assert proc.returncode == 0, proc.stderr
    assert f"  RESTORE {ext}/patch.ko" in proc.stdout
    assert (ext / "patch.ko").read_bytes() == b"as kbuild linked it"
    assert not (ext / ".patch.ko.klp-stamp").exists()
