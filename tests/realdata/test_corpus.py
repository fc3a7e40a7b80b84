"""Debian's own kernels: byte-exact round trips and kallsyms-true vmlinux positions.

Needs tests/realdata/fetch.sh; skipped without the data unless KLP_REQUIRE_REALDATA=1.
"""

from __future__ import annotations

import pathlib
import random
from collections import defaultdict

import pytest

from klp.elfcodec.elffile import ElfFile
from klp.inputs import read_object
from klp.symdb.scan import scan_vmlinux
from tests.support.paths import realdata_or_skip

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

#: (set, how many modules: None = all)
CORPUS = [("cloud-amd64", None), ("arm64", 300), ("ppc64el", 300), ("s390x", 300)]


def modules_of(env: dict[str, str], limit: int | None) -> list[pathlib.Path]:
    found = sorted(p for p in pathlib.Path(env["MODULES_DIR"]).rglob("*.ko*"))
    if limit is not None and len(found) > limit:
        found = sorted(random.Random(0).sample(found, limit))
    return found


@pytest.mark.parametrize(("name", "limit"), CORPUS, ids=[c[0] for c in CORPUS])
def test_modules_round_trip_byte_exact(name: str, limit: int | None) -> None:
    env = realdata_or_skip(name)
    modules = modules_of(env, limit)
    assert len(modules) >= (limit or 1000)
    failures = []
    for path in modules:
        data = read_object(str(path))
        elf = ElfFile.from_bytes(data, str(path))
        elf.decode_all()
        if elf.to_bytes() != data:
            failures.append(str(path))
    assert failures == []
    print(f"{name}: {len(modules)} modules round-trip byte for byte")


def test_vmlinux_round_trip_byte_exact() -> None:
    env = realdata_or_skip("cloud-amd64")
    elf = ElfFile.open(env["VMLINUX"])
    assert len(elf.symtab) > 100_000  # decoded, so re-encoded on write
    data = elf.to_bytes()
    assert data == pathlib.Path(env["VMLINUX"]).read_bytes()


@pytest.mark.parametrize("name", ["cloud-amd64", "amd64"])
def test_vmlinux_positions_equal_system_map(name: str) -> None:
    env = realdata_or_skip(name)
    ours = scan_vmlinux(ElfFile.open(env["VMLINUX"]), env["VMLINUX"])
    by_name: dict[str, list[int]] = defaultdict(list)
    for r in ours.records:
        by_name[r.name].append(int(r.address, 16))
    system_map: dict[str, list[int]] = defaultdict(list)
    for line in pathlib.Path(env["SYSTEM_MAP"]).read_text().splitlines():
        addr, _, sym = line.split()[:3]
        system_map[sym].append(int(addr, 16))
    repeated = [n for n, addrs in system_map.items() if len(addrs) > 1]
    assert len(repeated) > 500
    wrong = [n for n in repeated if by_name.get(n) != system_map[n]]
    assert wrong == []
