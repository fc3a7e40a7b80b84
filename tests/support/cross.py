"""The cross toolchains (Debian's gcc-<triplet> packages) that tests compile with."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from tests.support.paths import require_realdata

#: Each architecture's tool prefix.
CROSS = {"x86_64": "x86_64-linux-gnu-", "arm64": "aarch64-linux-gnu-",
         "ppc64le": "powerpc64le-linux-gnu-", "s390x": "s390x-linux-gnu-"}


def cross_tools(arch: str, *tools: str) -> list[str]:
    """The architecture's ``tools`` (``gcc``, ``ld``); skips the test without one of
    them (fails it in CI, which installs them)."""
    found = [CROSS[arch] + tool for tool in tools]
    if not all(map(shutil.which, found)):
        if require_realdata():
            pytest.fail(f"{' or '.join(found)} is missing")
        pytest.skip(f"{' or '.join(found)} is not installed")
    return found


def compiled(arch: str, flags: list[str], folder: pathlib.Path, name: str, source: str,
             *also: str) -> pathlib.Path:
    """``source`` written to ``folder/name`` and compiled there with the architecture's
    cross gcc (-O2 and ``flags``): the object. Needs the ``also`` tools too."""
    gcc = cross_tools(arch, "gcc", *also)[0]
    (folder / name).write_text(source)
    obj = folder / name.replace(".c", ".o")
    subprocess.run([gcc, "-c", "-O2", *flags, "-o", str(obj), name], cwd=folder, check=True)
    return obj
