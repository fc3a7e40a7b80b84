"""The derived struct codecs agree with the construct declarations (the spec)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from klp.elfcodec.fast import derive, tables
from klp.elfcodec.layouts import layouts

RECORDS = ("Ehdr", "Shdr", "Phdr", "Sym", "Rela", "Word", "KlpModuleReloc", "Chdr")


def _field_strategy(fmt_code: str) -> st.SearchStrategy[object]:
    if fmt_code.endswith("s"):
        return st.binary(min_size=int(fmt_code[:-1]), max_size=int(fmt_code[:-1]))
    bits = {"B": 8, "H": 16, "L": 32, "Q": 64, "b": 8, "h": 16, "l": 32, "q": 64}[fmt_code]
    if fmt_code.islower():
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return st.integers(0, 2**bits - 1)


def _codes(fmt: str) -> list[str]:
    import re

    return re.findall(r"\d+s|[A-Za-z]", fmt[1:])


@pytest.mark.parametrize("little", [True, False], ids=["LE", "BE"])
@pytest.mark.parametrize("record", RECORDS)
def test_derived_matches_construct(record: str, little: bool) -> None:
    con = getattr(layouts(little), record)
    table = getattr(tables(little), record)
    assert table.size == con.sizeof()
    assert table.fields == tuple(sc.name for sc in con.subcons)
    strategy = st.tuples(*(_field_strategy(c) for c in _codes(table.struct.format)))

    @settings(max_examples=200, deadline=None)
    @given(strategy)
    def agree(row: tuple[object, ...]) -> None:
        built = con.build(dict(zip(table.fields, row, strict=True)))
        assert table.pack_one(row) == built
        parsed = con.parse(built)
        assert table.unpack_one(built) == tuple(parsed[f] for f in table.fields)

    agree()


def test_derive_refuses_variable_fields() -> None:
    from construct import GreedyBytes, Int32ul, Struct

    with pytest.raises(TypeError):
        derive(Struct("a" / Int32ul, "b" / GreedyBytes))


def test_byte_order_is_in_the_format() -> None:
    assert tables(True).Sym.struct.format.startswith("<")
    assert tables(False).Rela.struct.format.startswith(">")
