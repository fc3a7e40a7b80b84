"""Locate the real-data sets that tests/realdata/fetch.sh unpacks.

Each set lives in ``$KLP_REALDATA/<set>/`` (default ``~/.cache/klp-realdata``)
and has an ``env`` file of ``KEY='value'`` lines: KVER, VMLINUX, SYSTEM_MAP, DEBUG_MODULES_DIR,
MODULES_DIR, KDIR, BUSYBOX, VMLINUZ, CONFIG (paths; empty when the set has no
such file), plus SET, ARCH, KARCH, CROSS_COMPILE, FLAVOUR, ABI, VERSION and
MODULE_COUNT.
"""

from __future__ import annotations

import os
import pathlib
import shlex

SETS = ("cloud-amd64", "amd64", "arm64", "ppc64el", "s390x", "amd64-xz")


def realdata_root() -> pathlib.Path:
    """The cache folder: ``$KLP_REALDATA`` or ``~/.cache/klp-realdata``."""
    env = os.environ.get("KLP_REALDATA")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "klp-realdata"


def parse_env(text: str) -> dict[str, str]:
    """Parse ``KEY='value'`` lines (shell quoting; ``#`` comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        key, sep, value = words[0].partition("=")
        if not sep or len(words) != 1:
            raise ValueError(f"not a KEY=value line: {line!r}")
        values[key] = value
    return values


def realdata_set(name: str) -> dict[str, str] | None:
    """The variables of set ``name``, or None when the set has not been fetched.

    A set counts as present only when fetch.sh finished it (the ``.done`` stamp)
    and its modules folder still exists.
    """
    folder = realdata_root() / name
    env = folder / "env"
    if not (folder / ".done").is_file() or not env.is_file():
        return None
    values = parse_env(env.read_text())
    modules = values.get("MODULES_DIR", "")
    if not modules or not pathlib.Path(modules).is_dir():
        return None
    return values
