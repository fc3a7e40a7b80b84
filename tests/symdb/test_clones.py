"""Compiler clones of functions (klp/symdb/clones.py), with names from Debian's 6.1
amd64 vmlinux and the sample kernels."""

from __future__ import annotations

import pathlib

import pytest

from klp.elfcodec.elffile import ElfFile
from klp.symdb import clones
from klp.symdb.scan import scan_vmlinux
from tests.support.paths import ARCHES, TESTDATA
from tests.support.symdb import obj, write


def test_clones_by_function() -> None:
    names = ["__tcp_send_ack", "__tcp_send_ack.part.0", "NF_HOOK.constprop.0",
             "tcp_v4_rcv.cold", "x.constprop.0.isra.0", "x.isra.1", "y.part", "z.constprop.a",
             "__func__.0", "x.constprop.0.cold"]
    found = clones.clone_names(names)
    assert found == ["NF_HOOK.constprop.0", "__tcp_send_ack.part.0", "x.constprop.0.isra.0",
                     "x.isra.1"]
    assert clones.clones_by_function(found, {"NF_HOOK", "__tcp_send_ack", "x", "y"}) == {
        "NF_HOOK": ["NF_HOOK.constprop.0"], "__tcp_send_ack": ["__tcp_send_ack.part.0"],
        "x": ["x.constprop.0.isra.0", "x.isra.1"]}


@pytest.mark.parametrize("arch", ARCHES)
def test_sample_kernels_clones(arch: str) -> None:
    found = scan_vmlinux(ElfFile.open(TESTDATA / arch / "vmlinux"), "vmlinux")
    assert found.meta[clones.CLONES_KEY] == "fixture_calc.constprop.0"


def test_database_answers(tmp_path: pathlib.Path) -> None:
    vmlinux = obj("vmlinux", [b"a"], kind="vmlinux")
    vmlinux.meta = {clones.CLONES_KEY: "a.isra.0 b.part.0 a.constprop.1"}
    db = write(tmp_path, [vmlinux, obj("m", [b"c"])])
    assert db.compiler_clones("vmlinux", {"a", "b", "c"}) == {
        "a": ["a.isra.0", "a.constprop.1"], "b": ["b.part.0"]}
    assert db.compiler_clones("vmlinux", {"b"}) == {"b": ["b.part.0"]}
    assert db.compiler_clones("m", {"c"}) is None  # not recorded: unknown
