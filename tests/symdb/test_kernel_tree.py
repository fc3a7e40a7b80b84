"""``klp symdb build --kernel-tree`` on a real kernel build tree, booted under qemu.

The tree is the tinyconfig + livepatch 6.1 kernel of tests/e2e/kernel/build-kernel.sh
(about 150-300 s on two cores, cached), or ``$KLP_KERNEL_TREE``. The boot needs the
cloud-amd64 set's static busybox and qemu.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import re
import shutil
from collections import defaultdict
from collections.abc import Iterator

import pytest

from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.kmod import is_livepatch, modinfo
from klp.render import plural
from klp.symdb.format import SymbolDB
from klp.symdb.scan import read_system_map
from tests.e2e.kernel.tree import built_tree
from tests.realdata.paths import realdata_set
from tests.support.cli import klp

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

LINE = re.compile(r"([0-9a-f]+) (\S) (\S+)\t\[(\S+)\]")


@pytest.fixture(scope="module")
def tree() -> Iterator[pathlib.Path]:
    given = os.environ.get("KLP_KERNEL_TREE")
    if given:
        yield pathlib.Path(given)
        return
    built = built_tree()
    with open(built.root / ".use.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield built.path


@pytest.fixture(scope="module")
def db(tree: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> SymbolDB:
    out = tmp_path_factory.mktemp("tree") / "symbols.klp"
    proc = klp("symdb", "build", "--kernel-tree", str(tree), "-o", str(out))
    kos = [tree / line for line in (tree / "modules.order").read_text().split()]
    livepatches = sum(1 for ko in kos if is_livepatch(modinfo(ElfFile.open(ko))))
    assert livepatches and f"{plural(livepatches, 'livepatch module')} left out" in proc.stderr
    return SymbolDB(str(out))


def test_vmlinux_positions_equal_the_trees_system_map(tree: pathlib.Path, db: SymbolDB) -> None:
    smap = read_system_map(str(tree / "System.map"))
    theirs: dict[str, list[int]] = defaultdict(list)
    for name, value in zip(smap.names, smap.values, strict=True):
        theirs[name.decode()].append(value)
    ours: dict[str, list[int | None]] = defaultdict(list)
    for r in db:
        if r.obj == "vmlinux":
            ours[r.name].append(r.value)
    assert dict(ours) == dict(theirs)
    assert sum(1 for v in theirs.values() if len(v) > 1) > 200
    assert db.exported("_printk") and db.kernel_release == db.object_meta("vmlinux")["release"]


def test_module_symbols_equal_proc_kallsyms(tree: pathlib.Path, db: SymbolDB,
                                            tmp_path: pathlib.Path) -> None:
    """Load the tree's non-livepatch modules and compare /proc/kallsyms with the records."""
    from tests.e2e.harness import GuestPlan, Kernel, boot_plan

    env = realdata_set("cloud-amd64")
    bz = tree / "arch" / "x86" / "boot" / "bzImage"
    if env is None or not env.get("BUSYBOX") or shutil.which("qemu-system-x86_64") is None \
            or not bz.is_file():
        pytest.skip("needs qemu, the tree's bzImage and the cloud-amd64 set's busybox")
    kernel = Kernel("", tree / "vmlinux", tree / "System.map", tree, tree,
                    pathlib.Path(env["BUSYBOX"]), bz, tree / ".config")
    modules = [o for o in db.objects() if o != "vmlinux"]
    assert modules
    plan = GuestPlan()
    for obj in modules:
        plan.insmod(tree / db.object_meta(obj)["path"])
    plan.run("ksyms", "grep '\\[' /proc/kallsyms")
    result = boot_plan(kernel, plan, tmp_path, "tree", append="console=ttyS0 panic=-1 quiet",
                       timeout=60)
    seen: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line in result.out("ksyms"):
        m = LINE.fullmatch(line)
        if m:
            seen[m[4]].append((m[3], m[2]))
    assert set(seen) == set(modules), result.report()
    records: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in db:
        if r.obj != "vmlinux":
            records[r.obj].append((r.name, r.letter))
    assert dict(seen) == dict(records)
