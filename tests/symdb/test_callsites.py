"""ftrace call sites by kallsyms range (klp/symdb/callsites.py), against an independent
reading of the same tables (tests/support/callsites.py); the tiny kernels' real cases
are in tests/e2e (test_symdb_call_sites_match_an_independent_reading)."""

from __future__ import annotations

import pathlib
import re
import subprocess

import pytest

from klp.elfcodec.elffile import ElfFile
from klp.errors import InputError
from klp.symdb import callsites
from klp.symdb.format import SymbolDB
from klp.symdb.scan import scan_module, scan_vmlinux
from tests.support.callsites import call_sites
from tests.support.paths import ARCHES, TESTDATA
from tests.support.symdb import obj, write


@pytest.mark.parametrize(("addresses", "sites", "shared"), [
    pytest.param([0x100, 0x140], [0x100, 0x120], {}, id="one at the address: ftrace takes it"),
    pytest.param([0x100, 0x140], [0x10c, 0x12c], {0x100: (0xc, 0x2c)},
                 id="two, none at the address"),
    pytest.param([0x100, 0x140], [0x10c], {}, id="one call site"),
    pytest.param([0x100, 0x140], [0x10c, 0x14c], {}, id="one in each range"),
    pytest.param([0x100, 0x100, 0x140], [0x104, 0x108], {0x100: (4, 8)},
                 id="aliases share one range"),
    pytest.param([0x100], [0x104, 0x108], {0x100: (4, 8)}, id="the last symbol's range"),
    pytest.param([0x100, 0x140], [0x40, 0x50], {}, id="sites before the first symbol"),
    pytest.param([], [0x104, 0x108], {}, id="no symbols"),
])
def test_shared_ranges(addresses: list[int], sites: list[int],
                       shared: dict[int, tuple[int, ...]]) -> None:
    assert callsites.shared_ranges(addresses, sites) == shared


def test_encoding_round_trips() -> None:
    shared = {"c0000000002ef800": (0xc, 0x154), ".text+0x10548": (0xc, 0x57c),
              "0000000000000100": (4, 0x14, 0x24)}
    text = callsites.encode_shared(shared)
    assert text == ".text+0x10548=c,57c 0000000000000100=4,14,24 c0000000002ef800=c,154"
    assert callsites.decode_shared(text) == shared
    assert callsites.decode_shared("") == {}


@pytest.mark.parametrize("text", ["100", "100=", "100=x", "100=4,,8", "=4"])
def test_decoding_refuses_what_no_writer_wrote(text: str) -> None:
    with pytest.raises(ValueError):
        callsites.decode_shared(text)


@pytest.mark.parametrize("arch", ARCHES)
def test_sample_kernels_call_sites(arch: str) -> None:
    """Every call site of the sample vmlinux, read as pyelftools reads the table; each
    in a range of its own or at its function's address, so none is shared. (The arm64
    and ppc64le samples' tables are empty: built without -mrecord-mcount, and the
    sample's linker script keeps no __patchable_function_entries.)"""
    t = TESTDATA / arch
    found = scan_vmlinux(ElfFile.open(t / "vmlinux"), "vmlinux")
    _, ranges = call_sites(t / "vmlinux", t / "System.map")
    count = int(found.meta[callsites.SITES_KEY])
    assert count == sum(map(len, ranges.values()))
    assert (count > 0) == (arch in ("x86_64", "s390x"))
    assert found.meta[callsites.SHARED_KEY] == ""


def test_database_answers_and_checks(tmp_path: pathlib.Path) -> None:
    vmlinux = obj("vmlinux", [b"a", b"b"], kind="vmlinux")
    vmlinux.meta = {callsites.SITES_KEY: "3", callsites.SHARED_KEY: "0000000000000000=4,8"}
    db = write(tmp_path, [vmlinux, obj("m", [b"c"])])
    assert db.shared_call_sites("vmlinux") == {"0000000000000000": (4, 8)}
    assert db.shared_call_sites("m") is None  # no call sites read: unknown, not "none"
    vmlinux.meta[callsites.SHARED_KEY] = "0000000000000000=4;8"
    damaged = write(tmp_path, [vmlinux])
    with pytest.raises(InputError, match=r"damaged symbols.klp \(vmlinux's ftrace-shared line"):
        damaged.shared_call_sites("vmlinux")
    assert isinstance(damaged, SymbolDB)


def test_arm64_call_sites_are_past_the_entry() -> None:
    """arch/arm64/kernel/ftrace.c ftrace_call_adjust(): the table holds the first NOP,
    at the function (0x100) or, with CALL_OPS, 8 bytes before it (0x1f8 for 0x200)."""
    assert callsites.arm64_call_sites([0x1f8, 0x100], [0x100, 0x200]) == [0x104, 0x204]


@pytest.mark.parametrize("arch", ARCHES)
def test_sample_modules_call_sites(arch: str) -> None:
    """A module's call sites are its __mcount_loc (arm64: __patchable_function_entries)
    relocations, as readelf counts them (the ppc64le sample has none: built without
    -mrecord-mcount)."""
    path = TESTDATA / arch / "modules" / "fixture-mod.ko"
    found = scan_module(ElfFile.open(path), "fixture-mod.ko")
    listing = subprocess.run(["readelf", "-rW", str(path)], capture_output=True, text=True,
                             check=True).stdout
    counts = re.findall(r"Relocation section '\.rela(?:__mcount_loc|__patchable_function_entries)'"
                        r" at offset 0x[0-9a-f]+ contains (\d+) entr", listing)
    assert found.meta[callsites.SITES_KEY] == (counts[0] if arch != "ppc64le" else "0")
    assert bool(counts) == (arch != "ppc64le")
    assert found.meta[callsites.SHARED_KEY] == ""
