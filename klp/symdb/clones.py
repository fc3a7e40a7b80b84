"""Compiler clones of a function: code that callers may run instead of the function.

GCC copies a function under a suffixed name when it specialises it for constant
arguments (``.constprop.N``), replaces its aggregate parameters by scalars
(``.isra.N``), or splits off its body (``.part.N``), and points callers at the
copy. A livepatch that replaces ``foo`` leaves ``foo.constprop.0`` as it was, so
the callers of the clone keep the old code; and where every caller uses a clone,
vmlinux has no ``foo`` at all. (``.cold`` parts run only from the function itself.)
Debian's 6.1 amd64 vmlinux has 1,216 such clones of 1,063 functions.

The symbol database keeps each object's clone names in its ``clones`` key.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from klp.elfcodec.strings import decode_name

CLONES_KEY = "clones"

#: The name up to its first clone suffix (a clone of a clone has two).
_CLONE = re.compile(r"(.+?)\.(?:constprop|isra|part)\.\d+(?:\.(?:constprop|isra|part)\.\d+)*")
_RAW_SUFFIX = re.compile(rb"\.(?:constprop|isra|part)\.\d")


def clone_origin(name: str) -> str | None:
    """The function ``name`` is a clone of (``foo`` for ``foo.constprop.0.isra.0``)."""
    match = _CLONE.fullmatch(name)
    return match.group(1) if match else None


def clone_names(names: Iterable[str]) -> list[str]:
    """The clones among ``names``, sorted and once each."""
    return sorted({n for n in names if _CLONE.fullmatch(n)})


def raw_clone_names(names: list[bytes]) -> list[str]:
    """:func:`clone_names` of an object's raw symbol names, searched all at once (most
    objects have none)."""
    joined = b"\n".join(names)
    found = []
    for match in _RAW_SUFFIX.finditer(joined):
        start = joined.rfind(b"\n", 0, match.start()) + 1
        end = joined.find(b"\n", match.end())
        found.append(decode_name(joined[start : end if end >= 0 else len(joined)]))
    return clone_names(found)


def clones_by_function(clones: Iterable[str], functions: Collection[str]
                       ) -> dict[str, list[str]]:
    """Each of ``functions`` that has clones -> its clones, in the order given."""
    prefixes = tuple(f"{name}." for name in functions)
    found: dict[str, list[str]] = {}
    for clone in clones:
        origin = clone_origin(clone) if clone.startswith(prefixes) else None
        if origin is not None and origin in functions:
            found.setdefault(origin, []).append(clone)
    return found
