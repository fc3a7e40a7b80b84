"""The names a compiler gives what the source calls ``name``.

A livepatch is written against the source, but kallsyms lists the compiler's
names, and for a good share of the symbols a livepatch needs they differ:

* a static variable inside a function is ``name.N`` (GCC numbers them; Debian's
  6.1 amd64 kernel and modules have 27,000) or ``function.name`` (clang);
* LTO renames a static it promotes: ``name.llvm.<hash>`` (clang ThinLTO),
  ``name.lto_priv.N`` (GCC);
* GCC clones a function (``name.constprop.N``, ``name.isra.N``, ``name.part.N``,
  see clones.py), and where every caller uses a clone no ``name`` is left;
* GCC splits off a function's unlikely code as ``name.cold``.

The first two are the symbol the source means, under another name: a livepatch
names them with an asm label (``KLP_RELOC_SYMBOL``). A clone takes other
arguments than the source's prototype, and a cold part is no function at all:
calling either as ``name`` runs with wrong arguments.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import NamedTuple, Protocol

from klp.symdb.clones import clone_origin
from klp.symdb.model import SymbolRecord


class VariantKind(enum.StrEnum):
    """How a kernel name relates to the source's."""

    STATIC_LOCAL = "static-local"  #: a function's static variable
    LTO = "lto"  #: renamed by LTO, otherwise the same symbol
    CLONE = "clone"  #: a GCC clone with other arguments
    COLD = "cold"  #: the unlikely part of a function

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def same_symbol(self) -> bool:
        """The kernel name stands for what the source means, so naming it is right."""
        return self in (VariantKind.STATIC_LOCAL, VariantKind.LTO)


#: What a group of one kind is, for a one-line hint.
_LABELS = {VariantKind.STATIC_LOCAL: "functions' static variables",
           VariantKind.LTO: "renamed by LTO", VariantKind.CLONE: "clones with other arguments",
           VariantKind.COLD: "cold parts"}


class Variant(NamedTuple):
    name: str  #: the kernel's name
    kind: VariantKind
    function: str | None = None  #: for clang's ``function.name``: the function


#: How many variants a diagnostic lists.
HINTS = 8

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LTO = re.compile(r"\.(?:llvm\.[0-9]+|lto_priv\.[0-9]+)")
_COLD = re.compile(r"\.cold(?:\.[0-9]+)?")


def classify(name: str, kernel_name: str) -> Variant | None:
    """What ``kernel_name`` is of the source's ``name``, if it is one of its variants."""
    if kernel_name.startswith(name + "."):
        rest = kernel_name[len(name):]
        if rest[1:].isdigit():
            return Variant(kernel_name, VariantKind.STATIC_LOCAL)
        if _LTO.fullmatch(rest):
            return Variant(kernel_name, VariantKind.LTO)
        cold = _COLD.search(kernel_name, len(name))
        if cold and cold.end() == len(kernel_name):
            part_of = kernel_name[: cold.start()]
            if part_of == name or clone_origin(part_of) == name:
                return Variant(kernel_name, VariantKind.COLD)
        elif clone_origin(kernel_name) == name:
            return Variant(kernel_name, VariantKind.CLONE)
    elif kernel_name.endswith("." + name):
        function = kernel_name[: -len(name) - 1]
        if _IDENTIFIER.fullmatch(function):
            return Variant(kernel_name, VariantKind.STATIC_LOCAL, function)
    return None


def variants(name: str, kernel_names: Iterable[str]) -> list[Variant]:
    """The variants of ``name`` among ``kernel_names``: the same symbol first, then
    clones and cold parts, each by name."""
    if not _IDENTIFIER.fullmatch(name):
        return []
    found = [v for n in kernel_names if (v := classify(name, n)) is not None]
    return sorted(found, key=lambda v: (not v.kind.same_symbol, v.kind, v.name))


def explain(name: str, variant: Variant) -> str:
    """What ``variant`` is of the source's ``name``, for a diagnostic line."""
    if variant.kind is VariantKind.CLONE:
        return (f"a GCC clone of {name} that takes other arguments: calling it as {name} "
                "passes the wrong ones; patch its callers instead")
    if variant.kind is VariantKind.COLD:
        return f"the unlikely part GCC split off {name}, no function to call"
    if variant.function is not None:
        return f"the static variable {name} of {variant.function}()"
    if variant.kind is VariantKind.STATIC_LOCAL:
        return f"a static variable {name} inside a function"
    return f"{name}, renamed by link-time optimisation"


class _Names(Protocol):
    def names_like(self, name: str) -> list[str]: ...

    def lookup(self, names: Iterable[str]) -> dict[str, list[SymbolRecord]]: ...


def records(name: str, db: _Names) -> list[tuple[Variant, SymbolRecord]]:
    """Each symbol of ``db`` (a symbol database or a kallsyms view) that is one of the
    compiler's names for ``name``, in :func:`variants` order, copies in database order."""
    found = variants(name, db.names_like(name))
    by_name = db.lookup(v.name for v in found)
    return [(v, r) for v in found for r in by_name.get(v.name, [])]
