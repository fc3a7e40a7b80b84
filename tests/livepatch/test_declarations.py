"""How a klp symbol finds what the patch declares of it (klp/livepatch/declarations.py)."""

from __future__ import annotations

from klp.elfcodec.dwarf import Signature
from klp.livepatch.declarations import Declared

CALL = Signature((4,), 4, False)


def test_a_klp_reloc_symbol_name_wins_over_the_plain_one() -> None:
    declared = Declared({}, {("vmlinux", "count", 2): 8, (None, "count", None): 4})
    assert declared.variable_size("vmlinux", "count", 2) == 8
    assert declared.variable_size("vmlinux", "count", 1) == 4
    assert declared.kind("vmlinux", "count", 2) is False


def test_what_says_nothing() -> None:
    declared = Declared({(None, "both", None): CALL, (None, "differ", None): None},
                        {(None, "both", None): 4, (None, "array", None): None})
    assert declared.kind(None, "both", None) is None  # a function in one unit, data in another
    assert declared.kind(None, "array", None) is None  # char array[]: any symbol's address
    assert declared.kind(None, "differ", None) is True  # a function, prototypes unknown
    assert declared.function(None, "differ", None) is None
    assert declared.kind(None, "absent", None) is None
