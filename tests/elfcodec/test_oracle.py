"""The codec's view of every fixture equals what binutils readelf prints."""

from __future__ import annotations

import pathlib

import pytest

from klp.elfcodec.elffile import ElfFile
from tests.support.paths import TESTDATA, fixture_objects
from tests.support.readelf import codec_view, readelf

FIXTURES = fixture_objects()


def test_fixtures_exist() -> None:
    arches = {p.relative_to(TESTDATA).parts[0] for p in FIXTURES}
    assert arches == {"x86_64", "arm64", "ppc64le", "s390x"}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(TESTDATA)))
def test_matches_readelf(path: pathlib.Path) -> None:
    oracle = readelf(str(path))
    assert oracle.warnings == []
    sections, symbols, relocs = codec_view(ElfFile.open(path))
    assert sections == oracle.sections
    assert symbols == oracle.symbols
    assert relocs == oracle.relocs
