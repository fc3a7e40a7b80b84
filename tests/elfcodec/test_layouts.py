"""The derived struct codecs agree with the construct declarations (the spec)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from klp.elfcodec.fast import RECORD_NAMES, codecs, derive
from klp.elfcodec.layouts import layouts
from tests.support.paths import ROOT

RECORDS = RECORD_NAMES


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
    table = getattr(codecs(little), record)
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


def test_generated_records_are_the_declarations() -> None:
    """klp/elfcodec/records.py is what tools/gen_records.py makes of layouts.py now."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_records", ROOT / "tools" /
                                                  "gen_records.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert (ROOT / "klp/elfcodec/records.py").read_text() == generator.source(), \
        "run python tools/gen_records.py"


def test_reading_a_file_does_not_import_construct() -> None:
    import subprocess
    import sys

    code = ("import sys; from klp.elfcodec.elffile import ElfFile; "
            f"ElfFile.open({str(ROOT / 'testdata/x86_64/livepatch-fixture.ko')!r}).decode_all(); "
            "print('construct' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_derive_refuses_variable_fields() -> None:
    from construct import GreedyBytes, Int32ul, Struct

    with pytest.raises(TypeError):
        derive(Struct("a" / Int32ul, "b" / GreedyBytes))


def test_byte_order_is_in_the_format() -> None:
    assert codecs(True).Sym.struct.format.startswith("<")
    assert codecs(False).Rela.struct.format.startswith(">")
