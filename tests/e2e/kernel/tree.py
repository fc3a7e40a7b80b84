"""The cached tiny livepatch kernels of build-kernel.sh, shared by the tests that use them."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.harness import Kernel, machine_of
from tests.realdata.paths import parse_env
from tests.support.paths import require_realdata

BUILD_SCRIPT = pathlib.Path(__file__).resolve().parent / "build-kernel.sh"


def need_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        msg = f"needs {', '.join(missing)}"
        if require_realdata():
            pytest.fail(msg)
        pytest.skip(msg)


@dataclass(frozen=True)
class Tree:
    """A cached tiny kernel (build-kernel.sh ``env``)."""

    root: pathlib.Path
    env: dict[str, str]

    @property
    def path(self) -> pathlib.Path:
        return pathlib.Path(self.env["TREE"])

    @property
    def system_map(self) -> pathlib.Path:
        return pathlib.Path(self.env["SYSTEM_MAP"])

    @property
    def vmlinux(self) -> pathlib.Path:
        return pathlib.Path(self.env["VMLINUX"])

    def kernel(self) -> Kernel:
        """The harness's view of it: modules, kbuild and boot image are the tree's."""
        return Kernel(self.env["KERNELRELEASE"], self.vmlinux, self.system_map, self.path,
                      self.path, pathlib.Path(self.env["BUSYBOX"]),
                      pathlib.Path(self.env["BOOT_IMAGE"]), self.path / ".config",
                      self.env["ARCH"], self.env["CROSS_COMPILE"])

    def build_env(self) -> dict[str, str]:
        """The environment the tree was built in (the same banner: nothing relinks)."""
        keys = ("KBUILD_BUILD_USER", "KBUILD_BUILD_HOST", "KBUILD_BUILD_TIMESTAMP")
        return dict(os.environ, **{k: self.env[k] for k in keys})


def built_tree(arch: str = "x86_64") -> Tree:
    """The built tree of kernel ``arch`` (build-kernel.sh's KERNEL: an architecture,
    x86_64-bpo or x86_64-6.12); built here when missing if KLP_REQUIRE_REALDATA or KLP_KERNEL_BUILD
    is 1, else the calling test is skipped."""
    machine = machine_of(arch)
    need_tools("make", f"{machine.cross_compile}gcc", "readelf", "sha256sum", machine.qemu,
               "dpkg-deb")
    proc = subprocess.run([str(BUILD_SCRIPT), "--print-dir", arch], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        msg = f"build-kernel.sh --print-dir failed:\n{proc.stderr}"
        if require_realdata():
            pytest.fail(msg)
        pytest.skip(msg)
    root = pathlib.Path(proc.stdout.strip())
    if not (root / ".done").is_file():
        if not (require_realdata() or os.environ.get("KLP_KERNEL_BUILD") == "1"):
            pytest.skip(f"the tiny {arch} kernel is not built ({root}): "
                        f"run tests/e2e/kernel/build-kernel.sh {arch}")
        t0 = time.monotonic()
        proc = subprocess.run([str(BUILD_SCRIPT), arch], capture_output=True, text=True,
                              check=False, timeout=3600)
        if proc.returncode != 0 or not (root / ".done").is_file():
            pytest.fail(f"build-kernel.sh failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}")
        print(f"tiny {arch} kernel built in {time.monotonic() - t0:.0f} s: {root}")
    return Tree(root, parse_env((root / "env").read_text()))


@contextlib.contextmanager
def shared_use(lock: pathlib.Path | None) -> Iterator[None]:
    """Hold a tiny kernel's tree lock shared while reading or building against the tree
    (another pytest may be changing it under the lock held exclusively); None, for a
    kernel that has no tree: nothing to hold."""
    with open(lock or os.devnull, "a") as held:
        fcntl.flock(held, fcntl.LOCK_SH)
        yield


def is_livepatch(ko: pathlib.Path) -> bool:
    """``livepatch=Y`` in the module's .modinfo, as binutils reads it (not klp)."""
    info = subprocess.run(["readelf", "-p", ".modinfo", str(ko)], capture_output=True,
                          text=True, check=True).stdout
    return "livepatch=Y" in info.split()
