"""What ``klp verify --debuginfo`` warns about, shown on Debian's cloud-amd64 kernel
under qemu: a patched function reaches the new code where it is called, and the
copy the compiler inlined into a caller keeps the old code.

tests/e2e/modules/inlined replaces do_getpgid(), which kernel/sys.c calls out of
line for getpgid(2) and inlines into getpgrp(2). Built with another prototype for
the replacement, the same DWARF says the replacement does not take the arguments the
old function's callers pass. Uses tests/e2e/harness.py.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil

import pytest

from tests.e2e.harness import GuestPlan, Kernel, boot_plan, build_module
from tests.support.cli import klp
from tests.support.paths import ROOT, realdata_or_skip, require_realdata

pytestmark = [pytest.mark.e2e, pytest.mark.realdata, pytest.mark.slow]

REPORT = re.compile(r"klp-e2e inlined: direct=(\d+) inlined=(\d+) pgrp=(-?\d+)/(-?\d+)")


def _kernel() -> Kernel:
    env = realdata_or_skip("cloud-amd64")
    missing = [t for t in ("qemu-system-x86_64", "make", "gcc") if shutil.which(t) is None]
    if missing:
        if require_realdata():
            pytest.fail(f"needs {', '.join(missing)}")
        pytest.skip(f"needs {', '.join(missing)}")
    return Kernel.from_env(env)


def _database(kernel: Kernel, tmp_path: pathlib.Path) -> pathlib.Path:
    db = tmp_path / "symbols.klp"
    klp("symdb", "build", "--vmlinux", str(kernel.vmlinux), "--symvers", str(kernel.symvers),
        "-o", str(db))
    return db


def test_inlined_copy_keeps_the_old_code(tmp_path: pathlib.Path) -> None:
    kernel = _kernel()
    db = _database(kernel, tmp_path)
    built = build_module(kernel, ROOT / "tests/e2e/modules/inlined", tmp_path / "build")
    out = tmp_path / "klp-e2e-inlined.ko"
    warning = ("the compiler also inlined do_getpgid (vmlinux) into __do_sys_getpgrp: the "
               "patch replaces do_getpgid only, so code inlined there keeps the old "
               "behaviour; where the fix must reach it, replace those callers too "
               "(klp_funcs of their own)")
    converted = json.loads(klp("convert", str(built.ko), "-o", str(out), "--symdb", str(db),
                               "--symvers", str(kernel.symvers), "--debuginfo",
                               str(kernel.vmlinux), "--json").stdout)
    assert [w for w in converted["warnings"] if "inlined" in w] == [warning], converted

    # what verify says before anyone loads it
    doc = json.loads(klp("verify", str(out), "--symdb", str(db), "--debuginfo",
                         str(kernel.vmlinux), "--json").stdout)
    assert {f["old_name"]: f["inlined_into"] for f in doc["functions"]} == {
        "do_getpgid": {"__do_sys_getpgrp": 1}, "cmdline_proc_show": {}}, doc
    assert [w for w in doc["warnings"] if "inlined" in w] == [warning]

    # what the kernel does
    plan = GuestPlan()
    plan.insmod(out)
    plan.run("report", "setsid cat /proc/cmdline")  # its own process group
    result = boot_plan(kernel, plan, tmp_path, "inlined")
    assert result.completed and result.insmod_rc(out.name) == [0], result.report()
    assert result.livepatches.get("klp_e2e_inlined") == {"enabled": "1", "transition": "0"}
    found = REPORT.fullmatch(result.out("report")[0]) if result.out("report") else None
    assert found is not None, result.report()
    direct, inlined, direct_pgrp, inlined_pgrp = map(int, found.groups())
    assert (direct, inlined) == (1, 0), result.report()
    assert direct_pgrp == inlined_pgrp > 0, result.report()


def _mistaken(tmp_path: pathlib.Path, mistake: str
              ) -> tuple[Kernel, pathlib.Path, pathlib.Path, list[str]]:
    """The module built with -D``mistake``: the kernel, its database, the output path
    and the ``klp convert ... --json`` arguments that convert it there."""
    kernel = _kernel()
    db = _database(kernel, tmp_path)
    built = build_module(kernel, ROOT / "tests/e2e/modules/inlined", tmp_path / "build",
                         {"KLP_E2E_CFLAGS": f"-D{mistake}"})
    out = tmp_path / "klp-e2e-inlined.ko"
    return kernel, db, out, ["convert", str(built.ko), "-o", str(out), "--symdb", str(db),
                             "--symvers", str(kernel.symvers), "--json"]


def test_a_replacement_with_another_prototype_is_refused(tmp_path: pathlib.Path) -> None:
    """The replacement takes (pid_t, long) and do_getpgid() (pid_t): the second
    argument would be whatever the old function's callers left in that register."""
    kernel, db, out, convert = _mistaken(tmp_path, "KLP_E2E_BAD_PROTOTYPE")
    convert[-1:-1] = ["--debuginfo", str(kernel.vmlinux)]
    refused = json.loads(klp(*convert, check=4).stdout)
    assert [(p["symbol"], p["forcible"]) for p in refused["problems"]] == [
        ("do_getpgid", True)], refused
    assert "klp_e2e_getpgid(4, 8) does not take the arguments of do_getpgid(4)" in \
        refused["problems"][0]["message"]
    assert not out.exists()
    klp(*convert[:-1], "--force")  # the user may know better: a warning then
    doc = json.loads(klp("verify", str(out), "--symdb", str(db), "--debuginfo",
                         str(kernel.vmlinux), "--json", check=4).stdout)
    assert [p["symbol"] for p in doc["problems"]] == ["do_getpgid"], doc
    assert klp("verify", str(out), "--symdb", str(db), check=0)  # without DWARF: not seen


def test_declarations_unlike_the_kernels_are_refused(tmp_path: pathlib.Path) -> None:
    """The patch declares max_threads (an int of kernel/fork.c) as a long, and
    do_getpgid() without its pid_t: its reads go past the variable, and the function
    reads a pid the call never passes. Its own DWARF says so, and the kernel's."""
    kernel, _, out, convert = _mistaken(tmp_path, "KLP_E2E_BAD_DECLARATIONS")
    size = ("the patch declares max_threads as 8 bytes and vmlinux's max_threads "
            "(kernel/fork.c) is 4 bytes")
    refused = json.loads(klp(*convert, check=4).stdout)
    assert [(p["symbol"], p["forcible"], p["message"].startswith(size))
            for p in refused["problems"]] == [(".klp.sym.vmlinux.max_threads,0", True, True)]
    refused = json.loads(klp(*convert, "--debuginfo", str(kernel.vmlinux), check=4).stdout)
    messages = {p["symbol"]: p["message"] for p in refused["problems"]}
    assert messages.keys() == {".klp.sym.vmlinux.max_threads,0",
                               ".klp.sym.vmlinux.do_getpgid,0"}, refused
    assert messages[".klp.sym.vmlinux.do_getpgid,0"].startswith(
        "the patch declares do_getpgid() and vmlinux's do_getpgid (kernel/sys.c) is "
        "do_getpgid(4) (parameter sizes in bytes, from DWARF): vmlinux's do_getpgid takes 1 "
        "parameters and the patch's declaration 0")
    assert not out.exists()
