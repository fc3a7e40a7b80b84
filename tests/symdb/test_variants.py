"""The compiler's names for a source name (klp/symdb/variants.py)."""

from __future__ import annotations

import pytest

from klp.symdb.variants import Variant, VariantKind, classify, variants


@pytest.mark.parametrize(("kernel_name", "kind", "function"), [
    ("count.2", VariantKind.STATIC_LOCAL, None),  # GCC: a function's static variable
    ("count.40", VariantKind.STATIC_LOCAL, None),
    ("read_stats.count", VariantKind.STATIC_LOCAL, "read_stats"),  # clang's name for it
    ("count.llvm.4113645912354357291", VariantKind.LTO, None),  # clang ThinLTO
    ("count.lto_priv.0", VariantKind.LTO, None),  # GCC LTO
    ("count.constprop.0", VariantKind.CLONE, None),
    ("count.isra.0", VariantKind.CLONE, None),
    ("count.part.0", VariantKind.CLONE, None),
    ("count.constprop.0.isra.0", VariantKind.CLONE, None),  # a clone of a clone
    ("count.cold", VariantKind.COLD, None),
    ("count.isra.0.cold", VariantKind.COLD, None),  # a clone's cold part
])
def test_each_kind(kernel_name: str, kind: VariantKind, function: str | None) -> None:
    assert classify("count", kernel_name) == Variant(kernel_name, kind, function)


@pytest.mark.parametrize("kernel_name", [
    "count",  # the name itself
    "counter.1",  # another name that starts alike
    "recount.1",
    "a.b.count",  # no function is called "a.b"
    "count.2.cold",  # a variable has no cold part
    "count.llvm.",
    "count.",
])
def test_other_names_are_no_variant(kernel_name: str) -> None:
    assert classify("count", kernel_name) is None


def test_the_same_symbol_comes_first() -> None:
    """What a livepatch may name (a renamed variable) before what it must not call."""
    found = variants("count", ["count.isra.0", "count.cold", "count.1", "f.count", "count",
                               "count.llvm.123", "counted"])
    assert [v.name for v in found] == ["count.llvm.123", "count.1", "f.count",
                                       "count.isra.0", "count.cold"]
    assert [v.kind.same_symbol for v in found] == [True, True, True, False, False]


def test_only_a_c_name_has_variants() -> None:
    """A name that is already the compiler's (an asm label) is taken as written."""
    assert variants("count.isra.0", ["count.isra.0.cold"]) == []
    assert variants("", ["x"]) == []
