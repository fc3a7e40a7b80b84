"""The real-kernel proof: converted livepatch modules load and work on Debian 12's kernel.

Debian 12's cloud-amd64 kernel (``tests/realdata/fetch.sh cloud-amd64``) boots
under qemu TCG with a busybox initramfs.  The livepatch modules in
``tests/e2e/modules/`` are built against the kernel's headers package, ``klp
symdb build`` scans the -dbg vmlinux and the image's modules, ``klp convert``
converts the modules, and the guest loads them:

* ``sample``  exported symbols only: loads as built (sanity check of the rig);
* ``vmlinux`` unique non-exported vmlinux function and data;
* ``ambig``   ambiguous vmlinux statics chosen with ``KLP_MODULE_RELOC(vmlinux)``;
* ``split``   two of its files annotate the same name for different copies, so
  ``klp convert`` splits the one undefined symbol by source file: s_next
  for two copies in vmlinux, and a name of both vmlinux and binfmt_misc for
  one copy in each object (``.klp.rela.vmlinux.*`` and
  ``.klp.rela.binfmt_misc.*`` from one undefined symbol);
* ``binfmt``  patches the loadable module binfmt_misc (``.klp.rela.binfmt_misc.*``),
  loaded before binfmt_misc in one boot and after it in another.

Four boots: the unconverted modules plus the sample; the converted ones with
the patch before binfmt_misc (nokaslr, so System.map addresses apply too); the
converted ones with binfmt_misc first (KASLR on); and converted modules whose
positions were made wrong, which the kernel must refuse.

Expected positions are computed here from the kernel's own files, never
hard-coded: the wanted copy of an ambiguous name is identified by its source
file in vmlinux's ELF symbol table (locals follow their FILE symbol), and its
position is its rank among the name's System.map entries (= /proc/kallsyms
order).  The name ``split`` resolves in both vmlinux and binfmt_misc is
picked from binfmt_misc.ko's symbol table and System.map.  In the guest, the
address each module prints is compared with /proc/kallsyms.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT, realdata_or_skip, require_realdata
from tests.e2e.harness import (
    BootResult,
    Built,
    GuestPlan,
    Kernel,
    LocalSymbol,
    boot_plan,
    build_module,
    fields,
    hexaddr,
    local_symbols,
    read_symtab,
    relocation_symbols,
    rename_klp_symbol,
    system_map,
)
from tests.elfcodec.test_dwarf import check as check_units

pytestmark = [pytest.mark.e2e, pytest.mark.realdata]

MODULES = pathlib.Path(__file__).resolve().parent / "modules"

#: The copy of each ambiguous vmlinux name the ``ambig`` module means, by source file.
#: hash_lock of posix-timers.c is first in .symtab but second by address;
#: set_root of ucount.c is an object counted after a function of the same name.
AMBIG_TARGETS = {"s_next": "trace_events.c", "hash_lock": "posix-timers.c",
                 "set_root": "ucount.c"}
#: The ambiguous name that the ``split`` module's files split-a.c and split-b.c
#: both use, and the vmlinux source file of the copy each of them means.
SPLIT_NAME = "s_next"
SPLIT_TARGETS = {"a": AMBIG_TARGETS[SPLIT_NAME], "b": "vmalloc.c"}
#: The loadable module that ``binfmt`` patches, and its symbols the patch uses.
TARGET_MODULE = "binfmt_misc"
#: s_ops is defined in binfmt_misc and in sunrpc, so it is annotated.
MODULE_ANNOTATED = "s_ops"
#: Non-exported symbols each module uses (what the loader reports as unknown).
NON_EXPORTED = {
    "vmlinux": ("saved_command_line", "max_threads", "kallsyms_lookup_name"),
    "ambig": tuple(AMBIG_TARGETS),
    "split": (SPLIT_NAME,),
    "binfmt": ("enabled", "entries", "bm_entry_read", "scanarg", MODULE_ANNOTATED),
}
VMLINUX_SYMBOLS = ("saved_command_line", "max_threads", "kallsyms_lookup_name")
MODULE_SYMBOLS = ("entries", "bm_entry_read", "s_ops")


def ko_name(module: str) -> str:
    return f"klp-e2e-{module}.ko"


def patch_name(module: str) -> str:
    return f"klp_e2e_{module}"


# --------------------------------------------------------------------------- fixtures


def _need_tools() -> None:
    missing = [t for t in ("qemu-system-x86_64", "make", "gcc", "readelf")
               if shutil.which(t) is None]
    if missing:
        msg = f"e2e needs {', '.join(missing)}"
        if require_realdata():
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def kernel() -> Kernel:
    env = realdata_or_skip("cloud-amd64")
    _need_tools()
    return Kernel.from_env(env)


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Scratch folder for builds, symdb, initramfs and console logs."""
    keep = os.environ.get("KLP_E2E_DIR")
    if keep:
        path = pathlib.Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("e2e")


def klp(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m klp ARGS`` from this checkout (not whatever klp is installed)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    return subprocess.run([sys.executable, "-m", "klp", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=600)


@dataclass(frozen=True)
class Target:
    """One copy of an ambiguous name, and the position that selects it."""

    name: str
    obj: str
    address: int  # link-time address (vmlinux) or symtab value (module)
    position: int
    count: int


def klp_symbol(t: Target) -> str:
    """The ``.klp.sym`` name that selects ``t``."""
    return f".klp.sym.{t.obj}.{t.name},{t.position}"


def vmlinux_copy(kernel: Kernel, locals_: list[LocalSymbol], order: dict[str, list[int]],
                 name: str, source: str) -> Target:
    """The copy of the ambiguous vmlinux ``name`` defined in ``source``, and its position.

    ``locals_`` and ``order`` are :func:`local_symbols` and :func:`system_map`
    of the kernel, read for (at least) ``name``.
    """
    mine = [s.address for s in locals_ if (s.file, s.name) == (source, name)]
    assert len(mine) == 1, f"{name} of {source}: {len(mine)} copies in {kernel.vmlinux}"
    addrs = order.get(name, [])
    assert len(addrs) > 1, f"{name} is not ambiguous in {kernel.system_map}: {addrs}"
    return Target(name, "vmlinux", mine[0], addrs.index(mine[0]) + 1, len(addrs))


@pytest.fixture(scope="session")
def targets(kernel: Kernel) -> dict[str, Target]:
    """Positions of the wanted copies, computed from vmlinux, System.map and the .ko."""
    locals_ = local_symbols(kernel.vmlinux, AMBIG_TARGETS)
    order = system_map(kernel.system_map, AMBIG_TARGETS)
    found = {name: vmlinux_copy(kernel, locals_, order, name, source)
             for name, source in AMBIG_TARGETS.items()}
    # The positions must count by address, not in .symtab order; hash_lock tells them apart.
    in_symtab = [s.address for s in locals_ if s.name == "hash_lock"]
    assert in_symtab.index(found["hash_lock"].address) + 1 != found["hash_lock"].position, \
        "hash_lock no longer distinguishes .symtab order from address order"
    # A module's positions count in its .ko symbol table order.
    copies = read_symtab(kernel.module(TARGET_MODULE)).defined(MODULE_ANNOTATED)
    assert len(copies) == 1, f"{MODULE_ANNOTATED} in {TARGET_MODULE}: {len(copies)} copies"
    found[MODULE_ANNOTATED] = Target(MODULE_ANNOTATED, TARGET_MODULE, copies[0].value, 1, 1)
    return found


@pytest.fixture(scope="session")
def split_targets(kernel: Kernel) -> dict[str, Target]:
    """The copy of SPLIT_NAME that each file of the ``split`` module means (keys a and b)."""
    locals_ = local_symbols(kernel.vmlinux, [SPLIT_NAME])
    order = system_map(kernel.system_map, [SPLIT_NAME])
    return {key: vmlinux_copy(kernel, locals_, order, SPLIT_NAME, source)
            for key, source in SPLIT_TARGETS.items()}


@pytest.fixture(scope="session")
def cross_targets(kernel: Kernel) -> dict[str, Target]:
    """The name the ``split`` module resolves in two objects, and the copy each file means.

    Key xa is split-a.c's copy in vmlinux, xb split-b.c's in TARGET_MODULE.
    The name is a local symbol of TARGET_MODULE's .ko that System.map lists
    too and that nothing exports; of those, the one with the most vmlinux
    copies (then the first by name).  Each file means the name's last copy
    in its object, so the vmlinux position is the highest there is and a
    fallback to the first copy would not pass.
    """
    ko = kernel.module(TARGET_MODULE)
    order = system_map(kernel.system_map)
    exported = {line.split("\t")[1] for line in kernel.symvers.read_text().splitlines()}
    names = sorted({s.name for s in local_symbols(ko, order)} - exported)
    assert names, f"no local symbol of {ko} is also in {kernel.system_map}"
    name = max(names, key=lambda n: len(order[n]))
    # the name reaches the C files as a string inside shell quotes (KLP_E2E_X)
    assert re.fullmatch(r"[\w.]+", name), name
    copies = read_symtab(ko).defined(name)
    addrs = order[name]
    return {"xa": Target(name, "vmlinux", addrs[-1], len(addrs), len(addrs)),
            "xb": Target(name, TARGET_MODULE, copies[-1].value, len(copies), len(copies))}


@pytest.fixture(scope="session")
def built(kernel: Kernel, targets: dict[str, Target], split_targets: dict[str, Target],
          cross_targets: dict[str, Target], work: pathlib.Path) -> dict[str, Built]:
    """The e2e modules built against the headers package (in parallel)."""
    inc = klp("--include-dir")
    assert inc.returncode == 0, inc.stderr
    include = inc.stdout.strip()
    assert (pathlib.Path(include) / "klp-reloc.h").is_file(), include

    def pos_flags(pos: dict[str, int], *extra: str) -> dict[str, str]:
        defs = " ".join([*(f"-DKLP_E2E_POS_{n.upper()}={p}" for n, p in pos.items()), *extra])
        return {"KLP_INCLUDE_DIR": include, "KLP_E2E_CFLAGS": defs}

    good = {n: targets[n].position for n in AMBIG_TARGETS}
    # Positions klp convert must refuse: 0 for an ambiguous name, and one past the end.
    wrong = dict(good, s_next=0, hash_lock=targets["hash_lock"].count + 1)
    jobs: dict[str, tuple[str, dict[str, str]]] = {
        "sample": ("sample", {}),
        "vmlinux": ("vmlinux", {}),
        "ambig": ("ambig", pos_flags(good)),
        "split": ("split", pos_flags({k: t.position for k, t in
                                      (split_targets | cross_targets).items()},
                                     f"-DKLP_E2E_X='\"{cross_targets['xa'].name}\"'")),
        "binfmt": ("binfmt", {"KLP_INCLUDE_DIR": include, "KLP_E2E_CFLAGS":
                              f"-DKLP_E2E_POS_S_OPS={targets[MODULE_ANNOTATED].position}"}),
        "ambig-wrong": ("ambig", pos_flags(wrong)),
    }
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {key: pool.submit(build_module, kernel, MODULES / src, work / "build" / key,
                                    flags) for key, (src, flags) in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


@pytest.fixture(scope="session")
def symdb(kernel: Kernel, work: pathlib.Path) -> pathlib.Path:
    """``klp symdb build`` of the -dbg vmlinux and the image's modules."""
    out = work / "symbols.klp"
    proc = klp("symdb", "build", "--vmlinux", str(kernel.vmlinux), "--modules",
               str(kernel.modules_dir), "--symvers", str(kernel.symvers), "-o", str(out))
    assert proc.returncode == 0 and out.is_file(), proc.stdout + proc.stderr
    return out


def convert(kernel: Kernel, symdb: pathlib.Path, ko: pathlib.Path,
            out: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return klp("convert", str(ko), "-o", str(out), "--symdb", str(symdb),
               "--symvers", str(kernel.symvers))


@dataclass(frozen=True)
class Conversion:
    """The result of ``klp convert`` on one module: the output, or why there is none."""

    path: pathlib.Path | None
    log: str

    def ok(self) -> pathlib.Path:
        """The converted module; fails the calling test when the conversion failed."""
        if self.path is None:
            pytest.fail(self.log, pytrace=False)
        return self.path


@pytest.fixture(scope="session")
def converted(kernel: Kernel, built: dict[str, Built], symdb: pathlib.Path,
              work: pathlib.Path) -> dict[str, Conversion]:
    """``klp convert`` of the modules in NON_EXPORTED.

    A module that fails to convert is left out of the boots, so each case
    fails on its own and the others still run.
    """
    folder = work / "converted"
    folder.mkdir(exist_ok=True)
    done: dict[str, Conversion] = {}
    for key in NON_EXPORTED:
        out = folder / ko_name(key)
        proc = convert(kernel, symdb, built[key].ko, out)
        log = (f"klp convert {built[key].ko} -> rc={proc.returncode}\n"
               f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        good = proc.returncode == 0 and out.is_file()
        done[key] = Conversion(out if good else None, log)
    return done


# --------------------------------------------------------------------------- boots


@pytest.fixture(scope="session")
def boot_unconverted(kernel: Kernel, built: dict[str, Built], work: pathlib.Path) -> BootResult:
    """The sample, then the NON_EXPORTED modules as built (not converted)."""
    plan = GuestPlan()
    plan.insmod(built["sample"].ko)
    plan.run("cmdline", "cat /proc/cmdline")
    for key in NON_EXPORTED:
        plan.insmod(built[key].ko)
    result = boot_plan(kernel, plan, work, "unconverted")
    assert result.completed, result.report()
    return result


def _checks(plan: GuestPlan, cross_name: str) -> None:
    """Read the patched files and kallsyms; callers run this after binfmt_misc has
    loaded, because the split module's copy of cross_name in it is bound only then."""
    plan.run("cmdline", "cat /proc/cmdline")
    plan.run("version", "cat /proc/version")
    plan.run("threads-max", "cat /proc/sys/kernel/threads-max")
    plan.run("loadavg", "cat /proc/loadavg")
    plan.kallsyms(*VMLINUX_SYMBOLS, *AMBIG_TARGETS, SPLIT_NAME, cross_name,
                  *NON_EXPORTED["binfmt"])


@pytest.fixture(scope="session")
def boot_patch_first(kernel: Kernel, converted: dict[str, Conversion],
                     cross_targets: dict[str, Target], work: pathlib.Path) -> BootResult:
    """Converted patches, then binfmt_misc; nokaslr (System.map addresses hold)."""
    plan = GuestPlan()
    for conv in converted.values():
        if conv.path:
            plan.insmod(conv.path)
    plan.insmod(kernel.module(TARGET_MODULE))
    plan.run("mount", "mount -t binfmt_misc binfmt_misc /mnt")
    plan.run("status", "cat /mnt/status")
    plan.run("disable", "echo 0 > /mnt/status")
    plan.run("status-disabled", "cat /mnt/status")
    _checks(plan, cross_targets["xa"].name)
    result = boot_plan(kernel, plan, work, "patch-first")
    assert result.completed, result.report()
    return result


@pytest.fixture(scope="session")
def boot_module_first(kernel: Kernel, converted: dict[str, Conversion],
                      cross_targets: dict[str, Target], work: pathlib.Path) -> BootResult:
    """binfmt_misc first, then the converted patches; KASLR on."""
    plan = GuestPlan()
    plan.insmod(kernel.module(TARGET_MODULE))
    plan.run("mount", "mount -t binfmt_misc binfmt_misc /mnt")
    plan.run("status-unpatched", "cat /mnt/status")
    for conv in converted.values():
        if conv.path:
            plan.insmod(conv.path)
    plan.run("status", "cat /mnt/status")
    _checks(plan, cross_targets["xa"].name)
    result = boot_plan(kernel, plan, work, "module-first",
                       append=kernel.append(kaslr=True))
    assert result.completed, result.report()
    return result


@dataclass(frozen=True)
class WrongCase:
    """A converted module with one .klp.sym position changed, and what the kernel says."""

    file: str
    source: str
    old: str
    new: str
    message: str


def wrong_cases(targets: dict[str, Target]) -> list[WrongCase]:
    s_next, s_ops = targets["s_next"], targets[MODULE_ANNOTATED]
    old_next = f".klp.sym.vmlinux.s_next,{s_next.position}"
    old_ops = f".klp.sym.{TARGET_MODULE}.{MODULE_ANNOTATED},{s_ops.position}"
    return [
        WrongCase("ambig-pos0.ko", "ambig", old_next, ".klp.sym.vmlinux.s_next,0",
                  r"unresolvable ambiguity for symbol 's_next'"),
        WrongCase("ambig-past-end.ko", "ambig", old_next,
                  f".klp.sym.vmlinux.s_next,{s_next.count + 1}",
                  rf"symbol position {s_next.count + 1} for symbol 's_next' in object "
                  r"'vmlinux' not found"),
        WrongCase("binfmt-past-end.ko", "binfmt", old_ops,
                  f".klp.sym.{TARGET_MODULE}.{MODULE_ANNOTATED},{s_ops.count + 1}",
                  rf"symbol position {s_ops.count + 1} for symbol '{MODULE_ANNOTATED}' in "
                  rf"object '{TARGET_MODULE}' not found"),
    ]


@pytest.fixture(scope="session")
def boot_wrong(kernel: Kernel, converted: dict[str, Conversion], targets: dict[str, Target],
               work: pathlib.Path) -> BootResult:
    """Converted modules edited to name wrong positions; binfmt_misc is loaded last."""
    plan = GuestPlan()
    for case in wrong_cases(targets):
        src = converted[case.source].path
        if src:
            out = work / "converted" / case.file
            rename_klp_symbol(src, out, case.old, case.new)
            plan.insmod(out)
    plan.insmod(kernel.module(TARGET_MODULE))
    result = boot_plan(kernel, plan, work, "wrong-positions")
    assert result.completed, result.report()
    return result


@pytest.fixture(params=["patch-first", "module-first"])
def converted_boot(request: pytest.FixtureRequest) -> Iterator[BootResult]:
    """Each boot of the converted modules (the vmlinux checks hold in both)."""
    yield request.getfixturevalue(f"boot_{request.param.replace('-', '_')}")


# --------------------------------------------------------------------------- tests


def test_sample_livepatch_loads(boot_unconverted: BootResult) -> None:
    r = boot_unconverted
    assert r.insmod_rc(ko_name("sample")) == [0], r.report()
    assert r.livepatches.get(patch_name("sample")) == {"enabled": "1", "transition": "0"}, \
        r.report()
    assert r.out("cmdline") == ["klp-e2e sample: patched"], r.report()


@pytest.mark.parametrize("module", list(NON_EXPORTED))
def test_unconverted_module_fails(boot_unconverted: BootResult,
                                  cross_targets: dict[str, Target], module: str) -> None:
    r = boot_unconverted
    rc = r.insmod_rc(ko_name(module))
    assert rc and rc[0] != 0, r.report()
    assert patch_name(module) not in r.livepatches, r.report()
    unknown = NON_EXPORTED[module]
    if module == "split":
        unknown += (cross_targets["xa"].name,)
    for sym in unknown:
        assert r.dmesg_has(rf"{patch_name(module)}: Unknown symbol {re.escape(sym)} "
                           r"\(err -2\)"), f"no 'Unknown symbol {sym}' for {module}\n{r.report()}"


@pytest.mark.parametrize("key", list(NON_EXPORTED))
def test_convert_output(converted: dict[str, Conversion], targets: dict[str, Target],
                        split_targets: dict[str, Target], cross_targets: dict[str, Target],
                        key: str) -> None:
    """The converted files name the objects and positions computed from the kernel."""
    want = {
        "vmlinux": {f".klp.sym.vmlinux.{s},0" for s in NON_EXPORTED["vmlinux"]},
        "ambig": {klp_symbol(targets[n]) for n in AMBIG_TARGETS},
        "split": {klp_symbol(t) for t in (*split_targets.values(), *cross_targets.values())},
        "binfmt": {f".klp.sym.{TARGET_MODULE}.{s},0" for s in NON_EXPORTED["binfmt"]
                   if s != MODULE_ANNOTATED} | {klp_symbol(targets[MODULE_ANNOTATED])},
    }
    objs = {"binfmt": {TARGET_MODULE}, "split": {"vmlinux", TARGET_MODULE}}
    table = read_symtab(converted[key].ok())
    klp_syms = {s.name for s in table.symbols if s.name.startswith(".klp.sym.")}
    assert klp_syms == want[key]
    for obj in objs.get(key, {"vmlinux"}):
        assert any(s.startswith(f".klp.rela.{obj}.") for s in table.sections), table.sections
    assert not any(s.startswith(".klp.module_relocs") for s in table.sections), table.sections


def _kallsyms_check(r: BootResult, line: dict[str, str], names: tuple[str, ...],
                    module: str | None) -> None:
    for name in names:
        ks = r.addresses(name, module)
        assert len(ks) == 1, f"{name} in kallsyms: {ks}\n{r.report()}"
        assert line.get(f"{name}@") == hexaddr(ks[0]), f"{name}\n{r.report()}"


def _patch_output(r: BootResult, converted: dict[str, Conversion], module: str,
                  tag: str) -> dict[str, str]:
    """The converted module loaded and enabled, and the fields of the one line its
    replacement printed for the guest command ``tag``."""
    converted[module].ok()
    assert r.insmod_rc(ko_name(module)) == [0], r.report()
    assert r.livepatches.get(patch_name(module)) == {"enabled": "1", "transition": "0"}
    line = r.out(tag)
    assert len(line) == 1 and line[0].startswith(f"klp-e2e {module}: "), r.report()
    return fields(line[0])


def test_vmlinux_unique_symbols(converted_boot: BootResult, kernel: Kernel,
                                converted: dict[str, Conversion]) -> None:
    """Non-exported vmlinux data and a function, resolved by livepatch at load time."""
    r = converted_boot
    got = _patch_output(r, converted, "vmlinux", "cmdline")
    assert got["lookup_ok"] == "1", r.report()
    assert got["max_threads"] == r.out("threads-max")[0], r.report()
    _kallsyms_check(r, got, VMLINUX_SYMBOLS, None)
    smap = system_map(kernel.system_map, VMLINUX_SYMBOLS)
    offsets = {int(got[f"{n}@"], 16) - smap[n][0] for n in VMLINUX_SYMBOLS}
    if r.name == "patch-first":  # nokaslr: the link-time addresses
        assert offsets == {0}, r.report()
    else:  # KASLR: one offset for the whole image (0 only if KASLR drew the default slot)
        assert len(offsets) == 1, r.report()


def test_ambiguous_names_by_annotation(converted_boot: BootResult, targets: dict[str, Target],
                                       converted: dict[str, Conversion]) -> None:
    """KLP_SYMPOS picks the N-th copy in kallsyms order: the copy of the intended file."""
    r = converted_boot
    got = _patch_output(r, converted, "ambig", "version")
    for name in AMBIG_TARGETS:
        t = targets[name]
        ks = r.addresses(name)
        assert len(ks) == t.count, f"{name}: {ks}\n{r.report()}"
        assert got[f"{name}@"] == hexaddr(ks[t.position - 1]), f"{name}\n{r.report()}"
        if r.name == "patch-first":
            assert got[f"{name}@"] == hexaddr(t.address), f"{name}\n{r.report()}"


def test_convert_splits_by_source_file(kernel: Kernel, built: dict[str, Built],
                                       symdb: pathlib.Path, split_targets: dict[str, Target],
                                       cross_targets: dict[str, Target]) -> None:
    """One undefined s_next, two klp symbols: each use gets the position its file annotated;
    likewise the cross-object name, whose two klp symbols name two objects."""
    ko = built["split"].ko
    by_file = {SPLIT_NAME: split_targets, cross_targets["xa"].name:
               {key.removeprefix("x"): t for key, t in cross_targets.items()}}
    undefined = [s.name for s in read_symtab(ko).symbols
                 if s.name in by_file and s.shndx == "SHN_UNDEF"]
    assert sorted(undefined) == sorted(by_file), undefined
    proc = klp("convert", str(ko), "--dry-run", "--json", "--symdb", str(symdb),
               "--symvers", str(kernel.symvers))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = {(s["symbol"], s["klp_symbol"], s["object"], s["position"], s["source"])
           for s in json.loads(proc.stdout)["symbols"] if s["symbol"] in by_file}
    want = {(name, klp_symbol(t), t.obj, t.position, f"split-{key}.c")
            for name, files in by_file.items() for key, t in files.items()}
    assert got == want, proc.stdout


def test_convert_splits_across_objects(converted: dict[str, Conversion],
                                       cross_targets: dict[str, Target]) -> None:
    """The one undefined cross-object name becomes a klp symbol per object, each used
    only by relocations of its object's .klp.rela sections (applied by livepatch when
    that object is loaded)."""
    path = converted["split"].ok()
    name = cross_targets["xa"].name
    assert not [s for s in read_symtab(path).symbols if s.name == name], \
        f"{name} is still a symbol of {path}"
    users: dict[str, set[str]] = {}
    for section, syms in relocation_symbols(path).items():
        for sym in syms:
            users.setdefault(sym, set()).add(section)
    for t in cross_targets.values():
        sections = users.get(klp_symbol(t), set())
        assert sections, f"no relocation uses {klp_symbol(t)}: {users}"
        assert all(s.startswith(f".klp.rela.{t.obj}.") for s in sections), sections


def test_debug_info_units_match_readelf(built: dict[str, Built]) -> None:
    """The DWARF compile units klp reads from Kbuild-built modules (the headers' config
    builds them with -g) are the ones binutils readelf reports."""
    for module in built.values():
        check_units(module.ko, "readelf")


def test_split_name_by_source_file(converted_boot: BootResult,
                                   split_targets: dict[str, Target],
                                   converted: dict[str, Conversion]) -> None:
    """Each file's uses of s_next are bound to the copy that file annotated."""
    r = converted_boot
    got = _patch_output(r, converted, "split", "loadavg")
    ks = r.addresses(SPLIT_NAME)
    assert {t.count for t in split_targets.values()} == {len(ks)}, f"{ks}\n{r.report()}"
    for key, t in split_targets.items():
        assert got[f"{key}@"] == hexaddr(ks[t.position - 1]), f"{key}\n{r.report()}"
        if r.name == "patch-first":
            assert got[f"{key}@"] == hexaddr(t.address), f"{key}\n{r.report()}"


def test_split_name_across_objects(converted_boot: BootResult,
                                   cross_targets: dict[str, Target],
                                   converted: dict[str, Conversion]) -> None:
    """split-a.c's uses of the name are bound to its vmlinux copy, split-b.c's to its
    binfmt_misc copy (when binfmt_misc loads, before or after the patch)."""
    r = converted_boot
    got = _patch_output(r, converted, "split", "loadavg")
    assert r.insmod_rc(f"{TARGET_MODULE}.ko") == [0], r.report()
    if r.name == "patch-first":
        assert r.dmesg_has(rf"applying patch '{patch_name('split')}' to loading module "
                           rf"'{TARGET_MODULE}'"), r.report()
    for key, t in cross_targets.items():
        ks = r.addresses(t.name, None if t.obj == "vmlinux" else t.obj)
        assert len(ks) == t.count, f"{t.name} of {t.obj}: {ks}\n{r.report()}"
        assert got[f"{key}@"] == hexaddr(ks[t.position - 1]), f"{key}\n{r.report()}"
    if r.name == "patch-first":
        assert got["xa@"] == hexaddr(cross_targets["xa"].address), r.report()


def _binfmt_line(r: BootResult, tag: str) -> dict[str, str]:
    line = r.out(tag)
    assert len(line) == 1 and line[0].startswith("klp-e2e binfmt: "), r.report()
    got = fields(line[0])
    assert got["scanarg"] == "ok" and got["entries_empty"] == "1", r.report()
    _kallsyms_check(r, got, MODULE_SYMBOLS, TARGET_MODULE)
    return got


def test_module_patch_before_module(boot_patch_first: BootResult,
                                    converted: dict[str, Conversion]) -> None:
    """Loaded before binfmt_misc: livepatch applies .klp.rela.binfmt_misc.* when it loads."""
    converted["binfmt"].ok()
    r = boot_patch_first
    assert r.insmod_rc(ko_name("binfmt")) == [0], r.report()
    assert r.insmod_rc(f"{TARGET_MODULE}.ko") == [0], r.report()
    assert r.dmesg_has(rf"applying patch '{patch_name('binfmt')}' to loading module "
                       rf"'{TARGET_MODULE}'"), r.report()
    assert r.livepatches.get(patch_name("binfmt")) == {"enabled": "1", "transition": "0"}
    assert _binfmt_line(r, "status")["enabled"] == "1"
    # bm_status_write is not patched: the patch reads the module's live variable
    assert r.rc("disable") == 0, r.report()
    assert _binfmt_line(r, "status-disabled")["enabled"] == "0", r.report()


def test_module_patch_after_module(boot_module_first: BootResult,
                                   converted: dict[str, Conversion]) -> None:
    """Loaded after binfmt_misc: the patch applies at once."""
    converted["binfmt"].ok()
    r = boot_module_first
    assert r.insmod_rc(f"{TARGET_MODULE}.ko") == [0], r.report()
    assert r.out("status-unpatched") == ["enabled"], r.report()
    assert r.insmod_rc(ko_name("binfmt")) == [0], r.report()
    assert r.livepatches.get(patch_name("binfmt")) == {"enabled": "1", "transition": "0"}
    assert _binfmt_line(r, "status")["enabled"] == "1"


def test_convert_refuses_wrong_annotation(kernel: Kernel, built: dict[str, Built],
                                          symdb: pathlib.Path, work: pathlib.Path) -> None:
    """KLP_SYMPOS(s_next, 0) and a position past the end: klp convert stops, writes nothing."""
    out = work / "converted" / "ambig-wrong.ko"
    out.parent.mkdir(exist_ok=True)
    out.unlink(missing_ok=True)
    proc = convert(kernel, symdb, built["ambig-wrong"].ko, out)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 4, text
    assert "s_next" in text and "hash_lock" in text, text
    assert not out.exists()


@pytest.mark.parametrize("index", range(3), ids=["s_next-0", "s_next-past-end",
                                                 "module-past-end"])
def test_wrong_position_fails_in_kernel(request: pytest.FixtureRequest,
                                        targets: dict[str, Target],
                                        converted: dict[str, Conversion], index: int) -> None:
    """The kernel refuses a wrong position with livepatch's own message."""
    case = wrong_cases(targets)[index]
    converted[case.source].ok()  # before booting: no boot when nothing converted
    r: BootResult = request.getfixturevalue("boot_wrong")
    assert r.dmesg_has(case.message), f"no {case.message!r}\n{r.report()}"
    if case.source == "binfmt":
        # the patch loads (binfmt_misc is absent), then binfmt_misc itself is refused
        assert r.insmod_rc(case.file) == [0], r.report()
        assert r.insmod_rc(f"{TARGET_MODULE}.ko") not in ([], [0]), r.report()
        assert r.dmesg_has(rf"refusing to load module '{TARGET_MODULE}'"), r.report()
    else:
        rc = r.insmod_rc(case.file)
        assert rc and rc[0] != 0, r.report()
