"""Module positions against the running kernel: Debian's cloud-amd64 under qemu, 6.1
and 6.12 (the ``amd64-xz`` set: its modules are xz-compressed, and it has no -dbg
vmlinux, so its database lists the modules alone).

Loads a few modules that have repeated local names (and one whose file name has a
dash) and a seeded sample of every other module without dependencies outside
drivers/, then compares each loaded module's /proc/kallsyms lines (names, type
letters and order) with the symbols.klp records of that object. Uses
tests/e2e/harness.py.
"""

from __future__ import annotations

import dataclasses
import pathlib
import random
import re
import shutil

import pytest

from klp.elfcodec.kmod import modinfo
from klp.inputs import open_object, read_object
from klp.symdb.format import SymbolDB
from tests.e2e.harness import GuestPlan, Kernel, boot_plan
from tests.support.cli import klp
from tests.support.paths import realdata_or_skip, require_realdata

pytestmark = [pytest.mark.e2e, pytest.mark.realdata, pytest.mark.slow]

#: No dependencies, load under qemu TCG, repeated local names; dm-bio-prison has a dash.
MODULES = ("squashfs", "configfs", "autofs4", "exfat", "llc", "dm-bio-prison")
NAMES = {name.replace("-", "_") for name in MODULES}
LINE = re.compile(r"([0-9a-f]+) (\S) (\S+)\t\[(\S+)\]")
#: How many more modules the seeded sample loads (those whose init fails are not listed).
SAMPLE = 50


def module_name(path: pathlib.Path) -> str:
    """The kernel's name of a module file (``.ko``, ``.ko.xz``...)."""
    return path.name.split(".", 1)[0].replace("-", "_")


def sample(kernel: Kernel) -> list[pathlib.Path]:
    """Modules without dependencies and not drivers (no hardware to probe under qemu),
    other than MODULES, in a seeded random order."""
    found = []
    for path in sorted(kernel.modules_dir.rglob("*.ko*")):
        if "/drivers/" in str(path) or module_name(path) in NAMES:
            continue
        if modinfo(open_object(str(path))).get("depends", "") == "":
            found.append(path)
    random.Random(1201).shuffle(found)
    return found[:SAMPLE]


@pytest.fixture(scope="module", params=["cloud-amd64", "amd64-xz"])
def subject(request: pytest.FixtureRequest) -> tuple[Kernel, list[str]]:
    """The kernel, and what ``klp symdb build`` reads besides its modules: Debian's 6.1
    kernel with its -dbg vmlinux; or its 6.12 image and modules alone, booted with
    6.1's busybox (the set has no -dbg vmlinux, headers or busybox)."""
    env = realdata_or_skip("cloud-amd64")
    if shutil.which("qemu-system-x86_64") is None:
        if require_realdata():
            pytest.fail("qemu-system-x86_64 is missing")
        pytest.skip("qemu-system-x86_64 is missing")
    kernel = Kernel.from_env(env)
    if request.param == "cloud-amd64":
        return kernel, ["--vmlinux", str(kernel.vmlinux), "--symvers", str(kernel.symvers)]
    xz = realdata_or_skip(request.param)
    return dataclasses.replace(kernel, kver=xz["KVER"],
                               modules_dir=pathlib.Path(xz["MODULES_DIR"]),
                               image=pathlib.Path(xz["VMLINUZ"]),
                               config=pathlib.Path(xz["CONFIG"])), []


def loadable(path: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    """The module as busybox's insmod can load it: decompressed into ``out``."""
    if path.suffix == ".ko":
        return path
    plain = out / f"{path.name.split('.', 1)[0]}.ko"
    plain.write_bytes(read_object(str(path)))
    return plain


def test_module_kallsyms_equal_symdb(subject: tuple[Kernel, list[str]],
                                     tmp_path: pathlib.Path) -> None:
    kernel, besides = subject
    db_path = tmp_path / "symbols.klp"
    klp("symdb", "build", *besides, "--modules", str(kernel.modules_dir), "-o", str(db_path))
    db = SymbolDB(str(db_path))
    plan = GuestPlan()
    chosen = {module_name(p): p for p in kernel.modules_dir.rglob("*.ko*")
              if module_name(p) in NAMES}
    for path in [*(chosen[n.replace("-", "_")] for n in MODULES), *sample(kernel)]:
        plan.insmod(loadable(path, tmp_path))
    plan.run("ksyms", "grep '\\[' /proc/kallsyms")
    result = boot_plan(kernel, plan, tmp_path, "kallsyms")
    assert result.completed, result.report()
    seen: dict[str, list[tuple[str, str]]] = {}
    for line in result.out("ksyms"):
        m = LINE.fullmatch(line)
        if m:
            seen.setdefault(m[4], []).append((m[3], m[2]))
    assert set(seen) >= NAMES and len(seen) >= len(NAMES) + SAMPLE // 2, result.report()
    expected = set(seen)
    records: dict[str, list[tuple[str, str]]] = {obj: [] for obj in expected}
    for r in db:
        if r.obj in records:
            records[r.obj].append((r.name, r.letter))
    for obj in sorted(expected):
        assert seen[obj] == records[obj], obj
    repeated = sum(1 for obj in expected for r in db.lookup([n for n, _ in seen[obj]]).values()
                   for x in r if x.obj == obj and x.count > 1)
    assert repeated >= 10  # the test covers positions, not only unique names
