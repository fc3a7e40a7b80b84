"""The kernel's own livepatch selftests, converted and verified on each tiny kernel.

Livepatches that no klp test wrote: the modules of the kernel's livepatch selftests
(``lib/livepatch/test_klp_*.c``, from 6.9 on in
``tools/testing/selftests/livepatch/test_modules/``), built from the tree's own source
as external modules. They patch vmlinux and each other (the callback demos patch
``test_klp_callbacks_mod`` and ``test_klp_callbacks_busy``), register callbacks,
shadow variables, states and atomic replace, in the 6.12 and 7.3 trees also patch a
syscall by its architecture's name (``__x64_sys_getpid``), and some have no function
at all. They take only exported symbols, so klp converts nothing; what this checks is
that klp refuses none of them and reads each registration as the kernel will:
``klp verify`` binds every ``klp_func`` the source declares (counted in the source,
by its ``.old_name =`` fields).
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil

import pytest

from tests.e2e.harness import DEBIAN, KERNELS, build_modules
from tests.e2e.kernel.tree import built_tree, is_livepatch, shared_use
from tests.support.cli import klp

pytestmark = [pytest.mark.e2e, pytest.mark.realdata, pytest.mark.slow]

TINY = [k for k in KERNELS if k not in DEBIAN]
#: Where the selftests' modules live in a kernel source tree, before and after 6.9.
SOURCES = ("lib/livepatch", "tools/testing/selftests/livepatch/test_modules")
OLD_NAME = re.compile(r"\.old_name\s*=")


@pytest.mark.parametrize("name", TINY)
def test_selftest_livepatches_convert_and_bind(name: str,
                                               tmp_path: pathlib.Path) -> None:
    tree = built_tree(name)
    kernel = tree.kernel()
    folder = next((tree.path / s for s in SOURCES if (tree.path / s).is_dir()), None)
    assert folder is not None, f"{tree.path} has none of {SOURCES}"
    sources = sorted(folder.glob("test_klp_*.c"))
    src = tmp_path / "src"
    src.mkdir()
    for c in sources:
        shutil.copy(c, src)
    (src / "Kbuild").write_text("".join(f"obj-m += {c.stem}.o\n" for c in sources))
    with shared_use(tree.root / ".use.lock"):
        kos = [b.ko for b in build_modules(kernel, src, tmp_path / "build")]
        db = tmp_path / "symbols.klp"
        klp("symdb", "build", "--kernel-tree", str(tree.path), *map(str, kos), "-o", str(db))
    patches = [ko for ko in kos if is_livepatch(ko)]
    assert len(patches) >= 5, kos

    failures = []
    (tmp_path / "out").mkdir()
    for ko in patches:
        out = tmp_path / "out" / ko.name
        converted = klp("convert", str(ko), "-o", str(out), "--symdb", str(db),
                        "--symvers", str(kernel.symvers), check=None)
        if converted.returncode != 0:
            failures.append(f"convert {ko.name}: {converted.stdout}{converted.stderr}")
            continue
        verified = klp("verify", str(out), "--symdb", str(db), "--json", check=None)
        doc = json.loads(verified.stdout) if verified.stdout.startswith("{") else {}
        declared = len(OLD_NAME.findall((src / f"{ko.stem}.c").read_text()))
        unbound = [f for f in doc.get("functions", ()) if f["binds_to"] is None or f["problem"]]
        if (verified.returncode != 0 or doc.get("status") != "ok" or unbound
                or len(doc.get("functions", ())) != declared):
            failures.append(f"verify {ko.name} ({declared} klp_func declared): "
                            f"{verified.stdout[-3000:]}{verified.stderr}")
    assert not failures, "\n\n".join(failures)
