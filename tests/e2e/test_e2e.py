"""The real-kernel proof: converted livepatch modules load and work, on eight kernels.

The same cases run on each kernel (the ``subject`` fixture, one test id each):

* ``debian``, ``debian-6.12``: Debian 12's cloud-amd64 kernel, 6.1
  (``tests/realdata/fetch.sh cloud-amd64``) and the 6.12 backport's, whose
  modules are ``.ko.xz`` (``amd64-xz``); the modules are built against its
  headers package and ``klp symdb build`` scans its -dbg vmlinux and the
  image's modules;
* ``x86_64``, ``ppc64le``, ``s390x``, ``arm64``, ``x86_64-bpo``, ``x86_64-6.12``:
  the tiny livepatch kernels of ``tests/e2e/kernel/build-kernel.sh`` (Debian's
  linux-source-6.1, for arm64 and x86_64-bpo trixie-backports' 7.x, for
  x86_64-6.12 linux-source-6.12, configured like Debian's kernels wherever a
  livepatch module can tell), the modules cross-built against the tree.

Each boots under qemu TCG with a busybox initramfs.  The livepatch modules in
``tests/e2e/modules/`` are built, ``klp convert`` converts them, and the guest
loads them:

* ``sample``   exported symbols only: loads as built (sanity check of the rig);
* ``vmlinux``  unique non-exported vmlinux function and data;
* ``ambig``    ambiguous vmlinux statics (a function, an object, a name of
  both) chosen with ``KLP_MODULE_RELOC(vmlinux)``, and the object with
  ``KLP_RELOC_SYMBOL_POS`` (the minimal klp-convert proposal's annotation);
* ``split``    two of its files annotate the same name for different copies, so
  ``klp convert`` splits the one undefined symbol by source file: s_next
  for two copies in vmlinux, and a name of both vmlinux and binfmt_misc for
  one copy in each object (``.klp.rela.vmlinux.*`` and
  ``.klp.rela.binfmt_misc.*`` from one undefined symbol) where the kernel has
  such a name;
* ``binfmt``   patches the loadable module binfmt_misc (``.klp.rela.binfmt_misc.*``),
  with the statics its binfmt_misc has (``BinfmtNames``);
* ``modpatch`` patches ``target`` (klp_e2e_target, a module of ours): its
  ambiguous static function and object (position 2), a call into it, its
  static key switched on with static_key_enable(), a vmlinux static key in the
  patch's own ``__jump_table``, and pointers to vmlinux and module data in
  ``.data``, read-only data and ``.data..read_mostly``.

Five boots per kernel: the unconverted modules plus the sample; the converted
ones with the patches before the modules they patch (nokaslr, so System.map
addresses apply too); the modules first (KASLR where the kernel has it);
converted modules whose positions were made wrong, which the kernel must
refuse; and a patched module removed and loaded again, where the 6.1
kernels go wrong in their own ways (``rules.module_reload``) and the 6.12 and
7.x ones get it right.

Expected positions are computed here from the kernel's own files, never
hard-coded: the wanted copy of an ambiguous name is identified by its source
file in vmlinux's (or the module's) ELF symbol table (locals follow their FILE
symbol), and its position is its rank among the name's System.map entries (=
/proc/kallsyms order), or in the module's symbol table.  The name ``split``
resolves in both vmlinux and binfmt_misc is picked from binfmt_misc.ko's symbol
table and System.map.  In the guest, the address each module prints is
compared with /proc/kallsyms.
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
from typing import Any

import pytest

from klp.elfcodec.dwarf import Signature, signatures
from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.kmod import build_id_in_notes
from klp.livepatch.rules import kernel_version
from klp.symdb.format import SymbolDB
from tests.e2e.harness import (
    DEBIAN,
    KERNELS,
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
from tests.e2e.kernel.tree import built_tree, shared_use
from tests.support.callsites import call_sites
from tests.support.dwarf import check as check_units
from tests.support.dwarf import function_places
from tests.support.paths import ROOT, realdata_or_skip, require_realdata

pytestmark = [pytest.mark.e2e, pytest.mark.realdata]

MODULES = pathlib.Path(__file__).resolve().parent / "modules"

#: The copy of each ambiguous vmlinux name the ``ambig`` module means, by role
#: (klp-e2e-ambig.c): its name and source file.  hash_lock of posix-timers.c
#: is first in Debian's .symtab but second by address; the tiny kernels have
#: no second hash_lock (no audit), but set_root of ucount.c, an object, is
#: first in their .symtab and second by address, after namei.c's function.
AMBIG_DEBIAN = {"func": ("s_next", "trace_events.c"), "data": ("hash_lock", "posix-timers.c"),
                "mixed": ("set_root", "ucount.c")}
AMBIG_TINY = {"func": ("s_next", "trace_events.c"), "data": ("trace_module_nb", "trace_events.c"),
              "mixed": ("set_root", "ucount.c")}
#: The ambiguous name that the ``split`` module's files split-a.c and split-b.c
#: both use, and the vmlinux source file of the copy each of them means (b: the
#: first of these files that has one; 7.x's vmalloc.c has none).
SPLIT_NAME = "s_next"
SPLIT_TARGETS = {"a": ("trace_events.c",), "b": ("vmalloc.c", "kallsyms.c")}
#: The loadable module that ``binfmt`` patches.
TARGET_MODULE = "binfmt_misc"


@dataclass(frozen=True)
class BinfmtNames:
    """The binfmt_misc statics the ``binfmt`` patch uses (klp-e2e-binfmt.c): a data
    object, a function and the super_operations (annotated with its position: on
    Debian, sunrpc has an s_ops too), all unique but ``ops``; before 6.7 also the
    load of ``enabled``. 6.7 moved enabled and entries into a per-namespace struct,
    7.3 renamed s_ops and dropped bm_entry_read."""

    data: str
    func: str
    ops: str
    loads: tuple[str, ...]

    def non_exported(self) -> tuple[str, ...]:
        return (*self.loads, self.data, self.func, "scanarg", self.ops)

    def flags(self, ops_position: int) -> list[str]:
        return [f"-DKLP_E2E_POS_OPS={ops_position}", f"-DKLP_E2E_DATA='\"{self.data}\"'",
                f"-DKLP_E2E_FUNC='\"{self.func}\"'", f"-DKLP_E2E_OPS='\"{self.ops}\"'"]


#: By kernel generation: the first whose names binfmt_misc.ko all defines is used.
BINFMT_NAMES = (BinfmtNames("entries", "bm_entry_read", "s_ops", ("enabled",)),
                BinfmtNames("bm_fs_type", "bm_status_write", "s_ops", ()),  # 6.7 on (6.12)
                BinfmtNames("bm_fs_type", "bm_status_write", "bm_super_ops", ()))
#: Our module that ``modpatch`` patches, and its ambiguous statics: the copy of
#: target-b.c (position 2) and the value it holds (target-a.c/target-b.c).
OWN_MODULE = "klp_e2e_target"
OWN_AMBIG = {"target_pick": ("target-b.c", "b"), "target_count": ("target-b.c", "b1")}
#: The ``ambig`` roles that klp-e2e-ambig.c annotates with KLP_RELOC_SYMBOL_POS (the
#: others with KLP_SYMPOS): a plain name, and ``local``, a function's static variable
#: (:func:`function_static`).
RELOC_ROLES = ("data", "local")
#: A function's static variable as GCC names it: the variable's name and a number.
FUNCTION_STATIC = re.compile(r"[a-z]\w*\.\d+")
#: Non-exported symbols each module uses (what the loader reports as unknown).
NON_EXPORTED = {
    "vmlinux": ("saved_command_line", "max_threads", "kallsyms_lookup_name"),
    "ambig": (),  # the subject's AMBIG names
    "split": (SPLIT_NAME,),
    "binfmt": (),  # the subject's BinfmtNames
    "modpatch": (*OWN_AMBIG, "target_branch", "target_key", "sched_schedstats", "max_threads"),
}
VMLINUX_SYMBOLS = ("saved_command_line", "max_threads", "kallsyms_lookup_name")
OWN_SYMBOLS = (*OWN_AMBIG, "target_key")


@dataclass(frozen=True)
class Subject:
    """One kernel the cases run on, and the vmlinux names its ``ambig`` case uses."""

    name: str
    kernel: Kernel
    ambig: dict[str, tuple[str, str]]  #: role -> (name, source file)
    #: The role whose name's .symtab order is not its address order (sympos counts
    #: by address; this name tells the two apart).
    order_witness: str
    binfmt: BinfmtNames
    #: A tiny kernel's tree lock (tests/e2e/kernel changes the tree under it).
    lock: pathlib.Path | None = None

    def non_exported(self, module: str) -> tuple[str, ...]:
        if module == "ambig":
            return tuple(name for name, _ in self.ambig.values())
        if module == "binfmt":
            return self.binfmt.non_exported()
        return NON_EXPORTED[module]


def ko_name(module: str) -> str:
    return f"klp-e2e-{module}.ko"


def patch_name(module: str) -> str:
    return f"klp_e2e_{module}"


# --------------------------------------------------------------------------- fixtures


def _need_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        msg = f"e2e needs {', '.join(missing)}"
        if require_realdata():
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session", params=KERNELS)
def subject(request: pytest.FixtureRequest) -> Subject:
    name: str = request.param
    if name in DEBIAN:
        env = realdata_or_skip(DEBIAN[name])
        _need_tools("qemu-system-x86_64", "make", "gcc", "readelf")
        kernel = Kernel.from_env(env)
        return Subject(name, kernel, {**AMBIG_DEBIAN, "local": function_static(kernel)},
                       "data", binfmt_names(kernel))
    tree = built_tree(name)
    kernel = tree.kernel()
    return Subject(name, kernel, {**AMBIG_TINY, "local": function_static(kernel)}, "mixed",
                   binfmt_names(kernel), tree.root / ".use.lock")


def function_static(kernel: Kernel) -> tuple[str, str]:
    """A function's static variable that vmlinux has several of, one a file, and the
    file of its last copy by address (so its position is past 1). Chosen from the
    kernel's own System.map: the numbers GCC appends differ between builds."""
    copies = {name: addrs for name, addrs in system_map(kernel.system_map).items()
              if len(addrs) > 1 and FUNCTION_STATIC.fullmatch(name)}
    found = local_symbols(kernel.vmlinux, copies)
    for name in sorted(copies, key=lambda n: (len(copies[n]), n)):
        mine = [s for s in found if s.name == name]
        if len(mine) == len(copies[name]) == len({s.file for s in mine}):
            return name, max(mine, key=lambda s: s.address).file
    raise AssertionError(f"{kernel.vmlinux}: no function static variable with one copy a file")


def binfmt_names(kernel: Kernel) -> BinfmtNames:
    table = read_symtab(kernel.module(TARGET_MODULE))
    for names in BINFMT_NAMES:
        if all(table.defined(n) for n in (names.data, names.func, names.ops, *names.loads)):
            return names
    raise AssertionError(f"{TARGET_MODULE}.ko of {kernel.kver} has none of {BINFMT_NAMES}")


@pytest.fixture(scope="session")
def kernel(subject: Subject) -> Kernel:
    return subject.kernel


@pytest.fixture(scope="session")
def work(subject: Subject, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Scratch folder for builds, symdb, initramfs and console logs, per kernel."""
    keep = os.environ.get("KLP_E2E_DIR")
    if keep:
        path = pathlib.Path(keep) / subject.name
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp(f"e2e-{subject.name}")


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
def targets(subject: Subject) -> dict[str, Target]:
    """Positions of the wanted copies, by ambig role and for binfmt's ops, computed
    from vmlinux, System.map and the .ko."""
    kernel = subject.kernel
    names = [name for name, _ in subject.ambig.values()]
    locals_ = local_symbols(kernel.vmlinux, names)
    order = system_map(kernel.system_map, names)
    found = {role: vmlinux_copy(kernel, locals_, order, name, source)
             for role, (name, source) in subject.ambig.items()}
    # The positions must count by address, not in .symtab order; one name tells them apart.
    witness = found[subject.order_witness]
    in_symtab = [s.address for s in locals_ if s.name == witness.name]
    assert in_symtab.index(witness.address) + 1 != witness.position, \
        f"{witness.name} no longer distinguishes .symtab order from address order"
    # A module's positions count in its .ko symbol table order.
    ops = subject.binfmt.ops
    copies = read_symtab(kernel.module(TARGET_MODULE)).defined(ops)
    assert len(copies) == 1, f"{ops} in {TARGET_MODULE}: {len(copies)} copies"
    found["ops"] = Target(ops, TARGET_MODULE, copies[0].value, 1, 1)
    return found


@pytest.fixture(scope="session")
def split_targets(kernel: Kernel) -> dict[str, Target]:
    """The copy of SPLIT_NAME that each file of the ``split`` module means (keys a and b)."""
    locals_ = local_symbols(kernel.vmlinux, [SPLIT_NAME])
    order = system_map(kernel.system_map, [SPLIT_NAME])
    return {key: vmlinux_copy(kernel, locals_, order, SPLIT_NAME, source)
            for key, source in _split_sources(locals_).items()}


def _split_sources(locals_: list[LocalSymbol]) -> dict[str, str]:
    """The source file of the SPLIT_NAME copy each of split's files means."""
    files = {s.file for s in locals_ if s.name == SPLIT_NAME}
    found = {}
    for key, choices in SPLIT_TARGETS.items():
        source = next((f for f in choices if f in files), None)
        assert source, f"{SPLIT_NAME} copies in vmlinux: {files}"
        found[key] = source
    return found


@pytest.fixture(scope="session")
def cross_targets(kernel: Kernel) -> dict[str, Target]:
    """The name the ``split`` module resolves in two objects, and the copy each file means.

    Key xa is split-a.c's copy in vmlinux, xb split-b.c's in TARGET_MODULE.
    The name is a local symbol of TARGET_MODULE's .ko that System.map lists
    too and that nothing exports; of those, the one with the most vmlinux
    copies (then the first by name).  Each file means the name's last copy
    in its object, so the vmlinux position is the highest there is and a
    fallback to the first copy would not pass.  A kernel may have no such name
    (7.3's binfmt_misc shares none with the tiny arm64 vmlinux): then there is no
    cross-object part (empty), and the tests of it are skipped.
    """
    ko = kernel.module(TARGET_MODULE)
    order = system_map(kernel.system_map)
    exported = {line.split("\t")[1] for line in kernel.symvers.read_text().splitlines()}
    names = sorted({s.name for s in local_symbols(ko, order)} - exported)
    if not names:
        return {}
    name = max(names, key=lambda n: len(order[n]))
    # the name reaches the C files as a string inside shell quotes (KLP_E2E_X)
    assert re.fullmatch(r"[\w.]+", name), name
    copies = read_symtab(ko).defined(name)
    addrs = order[name]
    return {"xa": Target(name, "vmlinux", addrs[-1], len(addrs), len(addrs)),
            "xb": Target(name, TARGET_MODULE, copies[-1].value, len(copies), len(copies))}


@pytest.fixture(scope="session")
def include_dir() -> str:
    inc = klp("--include-dir")
    assert inc.returncode == 0, inc.stderr
    include = inc.stdout.strip()
    assert (pathlib.Path(include) / "klp-reloc.h").is_file(), include
    return include


def build_all(subject: Subject, jobs: dict[str, tuple[str, dict[str, str]]],
              folder: pathlib.Path) -> dict[str, Built]:
    """Build MODULES/<src> with each job's make variables, in parallel, into folder/<key>,
    holding the tree's lock shared (another pytest may be changing the tree)."""
    with shared_use(subject.lock), concurrent.futures.ThreadPoolExecutor(
            max_workers=os.cpu_count() or 2) as pool:
        futures = {key: pool.submit(build_module, subject.kernel, MODULES / src,
                                    folder / key, flags)
                   for key, (src, flags) in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


@pytest.fixture(scope="session")
def own_module(subject: Subject, work: pathlib.Path) -> Built:
    """klp_e2e_target, the module that ``modpatch`` patches."""
    return build_all(subject, {"target": ("target", {})}, work / "build")["target"]


@pytest.fixture(scope="session")
def own_targets(own_module: Built) -> dict[str, Target]:
    """The copy of each OWN_AMBIG name that ``modpatch`` means: target-b.c's, whose
    position counts in the .ko's symbol table order."""
    table = read_symtab(own_module.ko)
    found = {}
    for name, (source, _) in OWN_AMBIG.items():
        mine = [s.address for s in local_symbols(own_module.ko, [name]) if s.file == source]
        assert len(mine) == 1, f"{name} of {source}: {mine}"
        copies = [s.value for s in table.defined(name)]
        found[name] = Target(name, OWN_MODULE, mine[0], copies.index(mine[0]) + 1, len(copies))
        assert found[name].position != 1, found[name]
    return found


@pytest.fixture(scope="session")
def built(subject: Subject, targets: dict[str, Target], split_targets: dict[str, Target],
          cross_targets: dict[str, Target], own_targets: dict[str, Target], include_dir: str,
          work: pathlib.Path) -> dict[str, Built]:
    """The e2e livepatch modules built against the headers package or the tree."""

    def flags(*defs: str) -> dict[str, str]:
        return {"KLP_INCLUDE_DIR": include_dir, "KLP_E2E_CFLAGS": " ".join(defs)}

    def pos_defs(pos: dict[str, int]) -> list[str]:
        return [f"-DKLP_E2E_POS_{n.upper()}={p}" for n, p in pos.items()]

    names = [f"-DKLP_E2E_{role.upper()}='\"{name}\"'" for role, (name, _) in subject.ambig.items()]
    names += [f"-DKLP_E2E_{role.upper()}_NAME={subject.ambig[role][0]}" for role in RELOC_ROLES]
    good = {role: targets[role].position for role in subject.ambig}
    # Positions klp convert must refuse: 0 for an ambiguous name, and one past the end.
    wrong = dict(good, func=0, data=targets["data"].count + 1)
    own = [f"-DKLP_E2E_POS_{name.removeprefix('target_').upper()}={t.position}"
           for name, t in own_targets.items()]
    jobs: dict[str, tuple[str, dict[str, str]]] = {
        "sample": ("sample", {}),
        "vmlinux": ("vmlinux", {}),
        "ambig": ("ambig", flags(*names, *pos_defs(good))),
        "split": ("split", flags(*pos_defs({k: t.position for k, t in
                                            (split_targets | cross_targets).items()}),
                                 *([f"-DKLP_E2E_X='\"{cross_targets['xa'].name}\"'"]
                                   if cross_targets else []))),
        "binfmt": ("binfmt", flags(*subject.binfmt.flags(targets["ops"].position))),
        "modpatch": ("modpatch", flags(*own)),
        "ambig-wrong": ("ambig", flags(*names, *pos_defs(wrong))),
        "modpatch-jump": ("modpatch", flags(*own, "-DKLP_E2E_MODULE_KEY_BRANCH")),
        "modpatch-weak": ("modpatch", flags(*own, "-DKLP_E2E_WEAK")),
        "unregistered": ("vmlinux",
                         flags(f"-DKLP_E2E_UNREGISTERED='\"{subject.binfmt.data}\"'")),
        "init": ("vmlinux", flags("-DKLP_E2E_INIT")),
        "loadavg": ("vmlinux", flags("-DKLP_E2E_LOADAVG")),
        # a section per function and per object, as kernels that drop unused code
        # (CONFIG_LD_DEAD_CODE_DATA_ELIMINATION) build them, and as kpatch-build does
        "sections": ("vmlinux", {"KLP_E2E_CFLAGS": "-ffunction-sections -fdata-sections"}),
    }
    return build_all(subject, jobs, work / "build")


@pytest.fixture(scope="session")
def symdb(kernel: Kernel, own_module: Built, work: pathlib.Path) -> pathlib.Path:
    """``klp symdb build`` of vmlinux, the kernel's modules and klp_e2e_target."""
    out = work / "symbols.klp"
    proc = klp("symdb", "build", "--vmlinux", str(kernel.vmlinux), "--modules",
               str(kernel.modules_dir), "--symvers", str(kernel.symvers), str(own_module.ko),
               "-o", str(out))
    assert proc.returncode == 0 and out.is_file(), proc.stdout + proc.stderr
    return out


def convert(kernel: Kernel, symdb: pathlib.Path, ko: pathlib.Path,
            *args: str) -> subprocess.CompletedProcess[str]:
    """``klp convert KO ARGS`` (``-o OUT``, ``--dry-run --json``) with the kernel's symdb."""
    return klp("convert", str(ko), *args, "--symdb", str(symdb), "--symvers", str(kernel.symvers))


def plan_of(kernel: Kernel, symdb: pathlib.Path, ko: pathlib.Path) -> dict[str, object]:
    """``klp convert --dry-run --json``: every symbol, relocation and warning."""
    proc = convert(kernel, symdb, ko, "--dry-run", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report: dict[str, object] = json.loads(proc.stdout)
    return report


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
    return {key: convert_to(kernel, symdb, built[key].ko, work / "converted" / ko_name(key))
            for key in NON_EXPORTED}


def convert_to(kernel: Kernel, symdb: pathlib.Path, ko: pathlib.Path,
               out: pathlib.Path) -> Conversion:
    """``klp convert KO -o OUT``: the output, or the log of why there is none."""
    out.parent.mkdir(exist_ok=True)
    proc = convert(kernel, symdb, ko, "-o", str(out))
    log = f"klp convert {ko} -> rc={proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return Conversion(out if proc.returncode == 0 and out.is_file() else None, log)


# --------------------------------------------------------------------------- boots


@pytest.fixture(scope="session")
def boot_unconverted(subject: Subject, built: dict[str, Built],
                     work: pathlib.Path) -> BootResult:
    """The sample, then the NON_EXPORTED modules as built (not converted)."""
    plan = GuestPlan()
    plan.insmod(built["sample"].ko)
    plan.run("cmdline", "cat /proc/cmdline")
    for key in NON_EXPORTED:
        plan.insmod(built[key].ko)
    result = boot_plan(subject.kernel, plan, work, "unconverted")
    assert result.completed, result.report()
    return result


def _checks(plan: GuestPlan, subject: Subject, cross: dict[str, Target]) -> None:
    """Read the patched files and kallsyms; callers run this after binfmt_misc and
    klp_e2e_target have loaded, because the patches' copies in them are bound only then.
    /proc/klp_e2e_target is read before and after the schedstats key is switched on."""
    plan.run("cmdline", "cat /proc/cmdline")
    plan.run("version", "cat /proc/version")
    plan.run("threads-max", "cat /proc/sys/kernel/threads-max")
    plan.run("filesystems", "cat /proc/filesystems")
    plan.run("schedstats-off", "cat /proc/sys/kernel/sched_schedstats")
    plan.run("target", "cat /proc/klp_e2e_target")
    plan.run("schedstats-on", "echo 1 > /proc/sys/kernel/sched_schedstats")
    plan.run("target-schedstats", "cat /proc/klp_e2e_target")
    plan.kallsyms(*VMLINUX_SYMBOLS, *subject.non_exported("ambig"), SPLIT_NAME,
                  *{t.name for t in cross.values()},
                  *subject.non_exported("binfmt"), *NON_EXPORTED["modpatch"])


@pytest.fixture(scope="session")
def boot_patch_first(subject: Subject, converted: dict[str, Conversion], own_module: Built,
                     cross_targets: dict[str, Target], work: pathlib.Path) -> BootResult:
    """Converted patches, then binfmt_misc and klp_e2e_target; nokaslr (System.map
    addresses hold)."""
    plan = GuestPlan()
    for conv in converted.values():
        if conv.path:
            plan.insmod(conv.path)
    plan.insmod(subject.kernel.module(TARGET_MODULE))
    plan.insmod(own_module.ko)
    plan.run("mount", "mount -t binfmt_misc binfmt_misc /mnt")
    plan.run("status", "cat /mnt/status")
    plan.run("disable", "echo 0 > /mnt/status")
    plan.run("status-disabled", "cat /mnt/status")
    plan.run("sysfs", SYSFS_IDENTITY)
    _checks(plan, subject, cross_targets)
    result = boot_plan(subject.kernel, plan, work, "patch-first")
    assert result.completed, result.report()
    return result


#: The guest's sysfs files that say which build runs, each as ``PATH HEX``.
SYSFS_IDENTITY = ("cd /sys && for f in kernel/notes module/*/srcversion module/*/notes/.note*; "
                  "do [ -f \"$f\" ] && echo \"$f $(od -An -tx1 -v \"$f\" | tr -d ' \\n')\"; "
                  "done; true")


def guest_kallsyms(r: BootResult, path: pathlib.Path) -> pathlib.Path:
    """The guest's /proc/kallsyms lines the plan asked for, as a dump file."""
    path.write_text("".join(f"{e.address:016x} {e.type} {e.name}"
                            + (f"\t[{e.module}]" if e.module else "") + "\n"
                            for e in r.kallsyms))
    return path


def guest_sysfs(r: BootResult, folder: pathlib.Path) -> pathlib.Path:
    """A copy of the guest's sysfs identity files (``SYSFS_IDENTITY``)."""
    for line in r.out("sysfs"):
        path, _, hexed = line.partition(" ")
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(bytes.fromhex(hexed))
    return folder


@pytest.fixture(scope="session")
def boot_module_first(subject: Subject, converted: dict[str, Conversion], own_module: Built,
                      cross_targets: dict[str, Target], work: pathlib.Path) -> BootResult:
    """binfmt_misc and klp_e2e_target first, then the converted patches; KASLR on
    (where the kernel has it)."""
    plan = GuestPlan()
    plan.insmod(subject.kernel.module(TARGET_MODULE))
    plan.insmod(own_module.ko)
    plan.run("mount", "mount -t binfmt_misc binfmt_misc /mnt")
    plan.run("status-unpatched", "cat /mnt/status")
    plan.run("target-unpatched", "cat /proc/klp_e2e_target")
    plan.run("module-symbols",
             f"grep -F -e '[{TARGET_MODULE}]' -e '[{OWN_MODULE}]' /proc/kallsyms")
    plan.run("vmlinux-symbols", "grep -v -F '[' /proc/kallsyms")
    for conv in converted.values():
        if conv.path:
            plan.insmod(conv.path)
    plan.run("status", "cat /mnt/status")
    _checks(plan, subject, cross_targets)
    result = boot_plan(subject.kernel, plan, work, "module-first",
                       append=subject.kernel.append(kaslr=True))
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
    func, s_ops = targets["func"], targets["ops"]
    old_func = klp_symbol(func)
    old_ops = klp_symbol(s_ops)
    return [
        WrongCase("ambig-pos0.ko", "ambig", old_func, f".klp.sym.vmlinux.{func.name},0",
                  rf"unresolvable ambiguity for symbol '{func.name}'"),
        WrongCase("ambig-past-end.ko", "ambig", old_func,
                  f".klp.sym.vmlinux.{func.name},{func.count + 1}",
                  rf"symbol position {func.count + 1} for symbol '{func.name}' in object "
                  r"'vmlinux' not found"),
        WrongCase("binfmt-past-end.ko", "binfmt", old_ops,
                  f".klp.sym.{TARGET_MODULE}.{s_ops.name},{s_ops.count + 1}",
                  rf"symbol position {s_ops.count + 1} for symbol '{s_ops.name}' in "
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


@pytest.fixture(scope="session")
def boot_reload(kernel: Kernel, converted: dict[str, Conversion], own_module: Built,
                work: pathlib.Path) -> BootResult:
    """klp_e2e_target and its converted patch, then the module removed and loaded again
    while the patch stays: livepatch applies the patch's relocations for it a second
    time.  binfmt_misc loads in between and takes the module's old place, so that the
    module comes back elsewhere; /proc/klp_e2e_target_where (addresses only) tells
    where the patch's relocations point."""
    plan = GuestPlan()
    plan.insmod(own_module.ko)
    plan.insmod(converted["modpatch"].ok())
    for tag in ("first", "second"):
        plan.run(f"{tag}-where", "cat /proc/klp_e2e_target_where")
        plan.run(f"{tag}-kallsyms", "grep -w -e target_count -e target_key /proc/kallsyms")
        if tag == "first":
            plan.run("rmmod", f"rmmod {OWN_MODULE}")
            plan.insmod(kernel.module(TARGET_MODULE))
            plan.insmod(own_module.ko)
    result = boot_plan(kernel, plan, work, "reload")
    assert result.completed, result.report()
    return result


@pytest.fixture(scope="session")
def boot_sections(kernel: Kernel, built: dict[str, Built], symdb: pathlib.Path,
                  work: pathlib.Path) -> tuple[Conversion, BootResult]:
    """The vmlinux patch built with a section per function, converted and loaded alone."""
    conversion = convert_to(kernel, symdb, built["sections"].ko,
                            work / "converted" / "klp-e2e-sections.ko")
    plan = GuestPlan()
    if conversion.path:
        plan.insmod(conversion.path)
    plan.run("cmdline", "cat /proc/cmdline")
    plan.kallsyms(*VMLINUX_SYMBOLS)
    result = boot_plan(kernel, plan, work, "sections")
    assert result.completed, result.report()
    return conversion, result


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
def test_unconverted_module_fails(boot_unconverted: BootResult, subject: Subject,
                                  targets: dict[str, Target], cross_targets: dict[str, Target],
                                  module: str) -> None:
    r = boot_unconverted
    rc = r.insmod_rc(ko_name(module))
    assert rc and rc[0] != 0, r.report()
    assert patch_name(module) not in r.livepatches, r.report()
    unknown = subject.non_exported(module)
    if module == "split":
        unknown += tuple({t.name for t in cross_targets.values()})
    if module == "ambig":  # KLP_RELOC_SYMBOL_POS renamed the undefined symbols
        relocs = [targets[role] for role in RELOC_ROLES]
        unknown = (*(n for n in unknown if n not in {t.name for t in relocs}),
                   *(f".klp.sym.rela.vmlinux.vmlinux.{t.name}.{t.position}" for t in relocs))
    for sym in unknown:
        # ppc64's loader drops the leading dot of an undefined name (module_64.c dedotify)
        shown = rf"\.?{re.escape(sym[1:])}" if sym.startswith(".") else re.escape(sym)
        assert r.dmesg_has(rf"{patch_name(module)}: Unknown symbol {shown} \(err -2\)"), \
            f"no 'Unknown symbol {sym}' for {module}\n{r.report()}"


@pytest.mark.parametrize("key", list(NON_EXPORTED))
def test_convert_output(converted: dict[str, Conversion], targets: dict[str, Target],
                        split_targets: dict[str, Target], cross_targets: dict[str, Target],
                        own_targets: dict[str, Target], subject: Subject, key: str) -> None:
    """The converted files name the objects and positions computed from the kernel."""
    want = {
        "vmlinux": {f".klp.sym.vmlinux.{s},0" for s in NON_EXPORTED["vmlinux"]},
        "ambig": {klp_symbol(targets[role]) for role in subject.ambig},
        "split": {klp_symbol(t) for t in (*split_targets.values(), *cross_targets.values())},
        "binfmt": {f".klp.sym.{TARGET_MODULE}.{s},0" for s in subject.non_exported("binfmt")
                   if s != subject.binfmt.ops} | {klp_symbol(targets["ops"])},
        "modpatch": {klp_symbol(t) for t in own_targets.values()}
                    | {f".klp.sym.{OWN_MODULE}.{s},0" for s in ("target_branch", "target_key")}
                    | {f".klp.sym.vmlinux.{s},0" for s in ("sched_schedstats", "max_threads")},
    }
    objs = {"binfmt": {TARGET_MODULE}, "modpatch": {"vmlinux", OWN_MODULE},
            "split": {"vmlinux"} | {t.obj for t in cross_targets.values()}}
    table = read_symtab(converted[key].ok())
    klp_syms = {s.name for s in table.symbols if s.name.startswith(".klp.sym.")}
    assert klp_syms == want[key]
    for obj in objs.get(key, {"vmlinux"}):
        assert any(s.startswith(f".klp.rela.{obj}.") for s in table.sections), table.sections
    assert not any(s.startswith(".klp.module_relocs") for s in table.sections), table.sections
    assert ".klp.converted" in table.sections  # the record the kernel loads past


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


def test_function_sections(boot_sections: tuple[Conversion, BootResult]) -> None:
    """A patch whose function has its own section: its relocations go to a
    .klp.rela.vmlinux.<that section>, and the kernel applies them. (The 7.x module
    linker script joins a module's .text.* into .text unless the architecture keeps
    them apart, so there the section is .text.)"""
    conversion, r = boot_sections
    table = read_symtab(conversion.ok())
    holder = next(s.shndx for s in table.symbols if s.name == "klp_e2e_cmdline_show")
    assert isinstance(holder, int), holder
    assert f".klp.rela.vmlinux.{table.sections[holder]}" in table.sections, table.sections
    assert r.insmod_rc("klp-e2e-sections.ko") == [0], r.report()
    assert r.livepatches.get(patch_name("vmlinux")) == {"enabled": "1", "transition": "0"}
    line = r.out("cmdline")
    assert len(line) == 1 and line[0].startswith("klp-e2e vmlinux: "), r.report()
    got = fields(line[0])
    assert got["lookup_ok"] == "1", r.report()
    _kallsyms_check(r, got, VMLINUX_SYMBOLS, None)


def test_ambiguous_names_by_annotation(converted_boot: BootResult, targets: dict[str, Target],
                                       subject: Subject,
                                       converted: dict[str, Conversion]) -> None:
    """KLP_SYMPOS and KLP_RELOC_SYMBOL_POS (the data name, and a function's static
    variable by GCC's name for it) pick the N-th copy in kallsyms order: the copy of the
    intended file."""
    r = converted_boot
    got = _patch_output(r, converted, "ambig", "version")
    for role in subject.ambig:
        t = targets[role]
        ks = r.addresses(t.name)
        assert len(ks) == t.count, f"{t.name}: {ks}\n{r.report()}"
        assert got[f"{role}@"] == hexaddr(ks[t.position - 1]), f"{t.name}\n{r.report()}"
        if r.name == "patch-first":
            assert got[f"{role}@"] == hexaddr(t.address), f"{t.name}\n{r.report()}"


def test_convert_splits_by_source_file(kernel: Kernel, built: dict[str, Built],
                                       symdb: pathlib.Path, split_targets: dict[str, Target],
                                       cross_targets: dict[str, Target]) -> None:
    """One undefined s_next, two klp symbols: each use gets the position its file annotated;
    likewise the cross-object name, whose two klp symbols name two objects."""
    ko = built["split"].ko
    by_file = {SPLIT_NAME: split_targets}
    for key, t in cross_targets.items():
        by_file.setdefault(t.name, {})[key.removeprefix("x")] = t
    undefined = [s.name for s in read_symtab(ko).symbols
                 if s.name in by_file and s.shndx == "SHN_UNDEF"]
    assert sorted(undefined) == sorted(by_file), undefined
    report = plan_of(kernel, symdb, ko)
    symbols = report["symbols"]
    assert isinstance(symbols, list)
    got = {(s["symbol"], s["klp_symbol"], s["object"], s["position"], s["source"])
           for s in symbols if s["symbol"] in by_file}
    want = {(name, klp_symbol(t), t.obj, t.position, f"split-{key}.c")
            for name, files in by_file.items() for key, t in files.items()}
    assert got == want, report


def test_convert_splits_across_objects(converted: dict[str, Conversion],
                                       cross_targets: dict[str, Target]) -> None:
    """The one undefined cross-object name becomes a klp symbol per object, each used
    only by relocations of its object's .klp.rela sections (applied by livepatch when
    that object is loaded)."""
    path = converted["split"].ok()
    _need_cross(cross_targets)
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


def _need_cross(cross_targets: dict[str, Target]) -> None:
    if not cross_targets:
        pytest.skip(f"no static name of both vmlinux and {TARGET_MODULE} in this kernel")


def test_debug_info_units_match_readelf(built: dict[str, Built]) -> None:
    """The DWARF compile units klp reads from Kbuild-built modules (the headers' config
    builds them with -g) are the ones binutils readelf reports."""
    for module in built.values():
        check_units(module.ko, "readelf")


def test_debuginfo_reads_this_kernel(kernel: Kernel, symdb: pathlib.Path,
                                    converted: dict[str, Conversion]) -> None:
    """``--debuginfo`` on the kernel's own DWARF (the tiny kernels are built with -g,
    Debian's is its -dbg vmlinux), on every architecture: verify reads the patched
    function's compile unit and finds no caller that inlined it, and the prototypes
    of the replaced function and its replacement are read from each side's DWARF and
    agree, so nothing is refused."""
    module = converted["vmlinux"].ok()
    proc = klp("verify", str(module), "--symdb", str(symdb), "--debuginfo", str(kernel.vmlinux),
               "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    functions = {f["old_name"]: f for f in doc["functions"]}
    assert functions["cmdline_proc_show"]["inlined_into"] == {}, doc
    target = function_places(ElfFile.open(kernel.vmlinux))["cmdline_proc_show"]
    replacement = function_places(ElfFile.open(module))["klp_e2e_cmdline_show"]
    old = signatures(ElfFile.open(kernel.vmlinux), [target]).get(target)
    new = signatures(ElfFile.open(module), [replacement]).get(replacement)
    # int (struct seq_file *, void *) on every 64-bit architecture here
    assert old == new == Signature((8, 8), 4, False), (old, new)


def test_split_name_by_source_file(converted_boot: BootResult,
                                   split_targets: dict[str, Target],
                                   converted: dict[str, Conversion]) -> None:
    """Each file's uses of s_next are bound to the copy that file annotated."""
    r = converted_boot
    got = _patch_output(r, converted, "split", "filesystems")
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
    _need_cross(cross_targets)
    r = converted_boot
    got = _patch_output(r, converted, "split", "filesystems")
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


def _binfmt_line(r: BootResult, names: BinfmtNames, tag: str) -> dict[str, str]:
    line = r.out(tag)
    assert len(line) == 1 and line[0].startswith("klp-e2e binfmt: "), r.report()
    got = fields(line[0])
    assert got["scanarg"] == "ok" and got["entries_empty"] == "1", r.report()
    assert got["fs"] == ("-" if names.loads else TARGET_MODULE), r.report()
    shown = {"data": names.data, "func": names.func, "ops": names.ops}
    _kallsyms_check(r, {f"{name}@": got[f"{key}@"] for key, name in shown.items()},
                    tuple(shown.values()), TARGET_MODULE)
    return got


def test_module_patch_before_module(boot_patch_first: BootResult, subject: Subject,
                                    converted: dict[str, Conversion]) -> None:
    """Loaded before binfmt_misc: livepatch applies .klp.rela.binfmt_misc.* when it loads."""
    converted["binfmt"].ok()
    r = boot_patch_first
    assert r.insmod_rc(ko_name("binfmt")) == [0], r.report()
    assert r.insmod_rc(f"{TARGET_MODULE}.ko") == [0], r.report()
    assert r.dmesg_has(rf"applying patch '{patch_name('binfmt')}' to loading module "
                       rf"'{TARGET_MODULE}'"), r.report()
    assert r.livepatches.get(patch_name("binfmt")) == {"enabled": "1", "transition": "0"}
    assert _binfmt_line(r, subject.binfmt, "status")["enabled"] == "1"
    # bm_status_write is not patched: the patch reads the module's live variable
    assert r.rc("disable") == 0, r.report()
    assert _binfmt_line(r, subject.binfmt, "status-disabled")["enabled"] == "0", r.report()


def test_module_patch_after_module(boot_module_first: BootResult, subject: Subject,
                                   converted: dict[str, Conversion]) -> None:
    """Loaded after binfmt_misc: the patch applies at once."""
    converted["binfmt"].ok()
    r = boot_module_first
    assert r.insmod_rc(f"{TARGET_MODULE}.ko") == [0], r.report()
    assert r.out("status-unpatched") == ["enabled"], r.report()
    assert r.insmod_rc(ko_name("binfmt")) == [0], r.report()
    assert r.livepatches.get(patch_name("binfmt")) == {"enabled": "1", "transition": "0"}
    assert _binfmt_line(r, subject.binfmt, "status")["enabled"] == "1"


def test_convert_refuses_wrong_annotation(kernel: Kernel, built: dict[str, Built],
                                          symdb: pathlib.Path, targets: dict[str, Target],
                                          work: pathlib.Path) -> None:
    """KLP_SYMPOS(func, 0) and a KLP_RELOC_SYMBOL_POS past the end: klp convert stops,
    writes nothing, and says which line selects the intended copy."""
    out = work / "converted" / "ambig-wrong.ko"
    out.parent.mkdir(exist_ok=True)
    out.unlink(missing_ok=True)
    proc = convert(kernel, symdb, built["ambig-wrong"].ko, "-o", str(out), "--json")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    problems = {p["symbol"]: p for p in json.loads(proc.stdout)["problems"]}
    func, data = targets["func"], targets["data"]
    assert problems.keys() == {func.name, data.name}, problems
    assert problems[func.name]["message"].startswith(f"KLP_SYMPOS({func.name}, 0) in vmlinux: ")
    wanted = f"KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, {data.name}, {data.position})"
    assert problems[data.name]["message"].startswith(
        f"KLP_RELOC_SYMBOL_POS(vmlinux, vmlinux, {data.name}, {data.count + 1}) in vmlinux: ")
    assert wanted in problems[data.name]["suggestions"], problems[data.name]
    assert not out.exists()


def test_convert_refuses_an_unregistered_object(kernel: Kernel, built: dict[str, Built],
                                               symdb: pathlib.Path, work: pathlib.Path) -> None:
    """A binfmt_misc static used by a patch that registers only vmlinux: the kernel
    would never apply .klp.rela.binfmt_misc.*, so klp convert refuses the module."""
    out = work / "converted" / "unregistered.ko"
    out.parent.mkdir(exist_ok=True)
    proc = convert(kernel, symdb, built["unregistered"].ko, "-o", str(out))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 4, text
    assert "registers no klp_object for binfmt_misc" in text, text
    assert not out.exists()


def _refused(kernel: Kernel, symdb: pathlib.Path, ko: pathlib.Path,
             out: pathlib.Path) -> list[dict[str, Any]]:
    """``klp convert KO -o OUT --json``, which must refuse (exit 4) and write nothing:
    its problems."""
    out.parent.mkdir(exist_ok=True)
    out.unlink(missing_ok=True)
    proc = convert(kernel, symdb, ko, "-o", str(out), "--json")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert not out.exists()
    problems: list[dict[str, Any]] = json.loads(proc.stdout)["problems"]
    return problems


def test_convert_refuses_init_data(kernel: Kernel, built: dict[str, Built],
                                   symdb: pathlib.Path, work: pathlib.Path) -> None:
    """boot_command_line is __initdata, freed after boot: klp convert refuses the
    patch that reads it, and accepts its reference to the per-CPU runqueues, whose
    template lies inside init memory on arm64, ppc64le, s390x and x86_64 7.x."""
    out = work / "converted" / "init.ko"
    problems = _refused(kernel, symdb, built["init"].ko, out)
    assert [(p["symbol"], p["forcible"]) for p in problems] == [("boot_command_line", True)]
    assert "is an init variable of vmlinux" in problems[0]["message"], problems
    report = json.loads(convert(kernel, symdb, built["init"].ko, "-o", str(out), "--json",
                                "--force").stdout)
    assert {"boot_command_line", "runqueues"} <= {s["symbol"] for s in report["symbols"]}, report


def test_forced_init_data_reads_freed_memory(kernel: Kernel, built: dict[str, Built],
                                             symdb: pathlib.Path, work: pathlib.Path) -> None:
    """What that refusal prevents: converted with --force, the patch loads and is
    enabled, and where the boot command line was it reads what free_initmem() left."""
    out = work / "converted" / "init-forced.ko"
    proc = convert(kernel, symdb, built["init"].ko, "-o", str(out), "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = GuestPlan()
    plan.insmod(out)
    plan.run("cmdline", "cat /proc/cmdline")
    r = boot_plan(kernel, plan, work, "init-forced")
    assert r.completed, r.report()
    assert r.insmod_rc(out.name) == [0], r.report()
    assert r.livepatches.get(patch_name("vmlinux")) == {"enabled": "1", "transition": "0"}
    line = r.out("cmdline")
    if r.rc("cmdline") == 0:  # poisoned (POISON_FREE_INITMEM, 0xcc) and still mapped
        got = fields(line[0])
        assert got["cmdline"].startswith("console=") and got["boot_command_line"] != "console=", \
            r.report()
    else:  # unmapped once freed (arm64 7.3): the reading process oopses
        assert line == ["Segmentation fault"] and "Oops" in r.report(), r.report()


def test_shared_call_site_refused_and_why(kernel: Kernel, built: dict[str, Built],
                                         symdb: pathlib.Path, work: pathlib.Path) -> None:
    """A patched function whose kallsyms range holds several ftrace call sites and none
    at its address (loadavg_proc_show, followed by an overridden __weak function, on
    ppc64le 6.1): klp convert refuses it, and converted with --force the patch loads,
    is enabled and never runs. Where one call site is at the address (x86_64 6.1,
    s390x) or the build dropped the other (6.12, 7.x), it converts and runs."""
    where, ranges = call_sites(kernel.vmlinux, kernel.system_map)
    offsets = ranges.get(where["loadavg_proc_show"], [])
    shared = len(offsets) > 1 and 0 not in offsets
    out = work / "converted" / "loadavg.ko"
    out.parent.mkdir(exist_ok=True)
    if shared:
        problems = _refused(kernel, symdb, built["loadavg"].ko, out)
        assert [(p["kind"], p["symbol"], p["forcible"]) for p in problems] == [
            ("function", "loadavg_proc_show", True)], problems
        sites = ", ".join(f"+{o:#x}" for o in offsets)
        assert f"{len(offsets)} ftrace call sites ({sites})" in problems[0]["message"]
    proc = convert(kernel, symdb, built["loadavg"].ko, "-o", str(out), "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("loadavg_proc_show's kallsyms range" in proc.stderr) == shared, proc.stderr
    plan = GuestPlan()
    plan.insmod(out)
    plan.run("loadavg", "cat /proc/loadavg")
    r = boot_plan(kernel, plan, work, "loadavg")
    assert r.completed and r.insmod_rc(out.name) == [0], r.report()
    assert r.livepatches.get(patch_name("vmlinux")) == {"enabled": "1", "transition": "0"}
    assert (r.out("loadavg") == ["klp-e2e loadavg"]) == (not shared), (offsets, r.report())


def test_module_shared_call_site_refused_and_why(kernel: Kernel, built: dict[str, Built],
                                                own_module: Built, symdb: pathlib.Path,
                                                work: pathlib.Path) -> None:
    """klp_e2e_target's target_weak_show() is followed by the body of its overridden
    __weak target_hook(). Where ftrace's call site is past a function's address (ppc64le,
    arm64's patchable entry, x86_64 with IBT's endbr64: the 6.12 and 7.3 kernels), the
    range holds two or more and none at the address: klp convert refuses the patch (the
    6.12 and 7.x builds zero such call sites of vmlinux, not of modules). Where the call
    site is at the address (x86_64 6.1, s390x), it converts and the patch runs. klp
    verify says the same from the guest's kallsyms lines of the loaded module with its
    .ko (--modules), whose ranges it moves to the running addresses."""
    db = SymbolDB(str(symdb))
    show = db.lookup(["target_weak_show"])["target_weak_show"][0]
    offsets = (db.shared_call_sites(OWN_MODULE) or {}).get(show.address)
    past_entry = kernel.arch in ("ppc64le", "arm64") or \
        "CONFIG_X86_KERNEL_IBT=y" in kernel.config.read_text()  # endbr64 first
    assert (offsets is not None) == past_entry, (show, offsets)
    out = work / "converted" / "modpatch-weak.ko"
    out.parent.mkdir(exist_ok=True)
    if offsets is not None:
        problems = _refused(kernel, symdb, built["modpatch-weak"].ko, out)
        assert [(p["kind"], p["symbol"], p["forcible"]) for p in problems] == [
            ("function", "target_weak_show", True)], problems
        assert "past its end" in problems[0]["message"], problems
    proc = convert(kernel, symdb, built["modpatch-weak"].ko, "-o", str(out), "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = GuestPlan()
    plan.insmod(own_module.ko)
    plan.insmod(out)
    plan.run("weak", "cat /proc/klp_e2e_target_weak")
    plan.run("modsyms", f"grep -F '[{OWN_MODULE}]' /proc/kallsyms")
    r = boot_plan(kernel, plan, work, "modpatch-weak")
    assert r.completed and r.insmod_rc(out.name) == [0], r.report()
    # vmlinux's lines from System.map (nokaslr: the same addresses), the module's as
    # the guest listed them
    dump = work / "modpatch-weak-kallsyms"
    running = ["{} {} {}\t{}".format(*line.split()) for line in r.out("modsyms")]
    dump.write_text(kernel.system_map.read_text() + "\n".join(running) + "\n")
    checked = verify_report(out, "--kallsyms", str(dump), "--modules",
                            str(own_module.ko.parent), check=None)
    assert not [n for n in checked["warnings"] if "is not the" in n], checked["warnings"]
    found = [(p["kind"], p["symbol"]) for p in checked["problems"] if p["kind"] == "function"]
    assert found == ([("function", "target_weak_show")] if past_entry else []), checked
    assert r.livepatches.get(patch_name("modpatch")) == {"enabled": "1", "transition": "0"}
    # forced, the search happens to meet the function's own call site in this small
    # module on every kernel here (unlike loadavg_proc_show in ppc64le's vmlinux)
    assert r.out("weak") == ["klp-e2e modpatch: weak"], r.report()


def test_convert_refuses_module_key_in_jump_table(kernel: Kernel, built: dict[str, Built],
                                                  symdb: pathlib.Path,
                                                  work: pathlib.Path) -> None:
    """A branch on a module's static key puts a klp relocation for that module into the
    patch's __jump_table, which the kernel sets up when the patch loads, before the
    module's relocations are applied: klp convert refuses it, with that reason."""
    problems = _refused(kernel, symdb, built["modpatch-jump"].ko,
                        work / "converted" / "modpatch-jump.ko")
    assert problems and all(p["kind"] == "rule" and p["symbol"] == "target_key"
                            and p["message"].startswith("__jump_table+")
                            and f"before module {OWN_MODULE}'s relocations" in p["message"]
                            for p in problems), problems


@pytest.mark.parametrize("index", range(3), ids=["func-0", "func-past-end", "module-past-end"])
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


# --------------------------------------------------------------------------- modpatch

#: Where each architecture's code reaches another object (the compiler's choice, see
#: docs/kernels.md): the relocation of a call, and of a data access and its section.
#: ppc64le calls go through a stub the loader builds, and the nop after the bl
#: becomes the r2 (TOC) restore; data addresses sit in .toc entries.  s390x calls
#: use PLT32DBL and data a GOT slot (GOTENT).  arm64 calls with CALL26 (through a
#: PLT entry the loader makes when the target is too far) and addresses data with an
#: ADRP (ADR_PREL_PG_HI21) and a low-12-bit add or load.
REACH = {
    "x86_64": ("R_X86_64_PLT32", "R_X86_64_PC32", ".text"),
    "ppc64le": ("R_PPC64_REL24", "R_PPC64_ADDR64", ".toc"),
    "s390x": ("R_390_PLT32DBL", "R_390_GOTENT", ".text"),
    "arm64": ("R_AARCH64_CALL26", "R_AARCH64_ADR_PREL_PG_HI21", ".text"),
}
#: The sections the data tables of klp-e2e-modpatch.c land in: where modules are
#: position-independent code, relocated data goes to .data.rel and .data.rel.ro.
DATA_SECTIONS = {
    "x86_64": (".data", ".rodata", ".data..read_mostly"),
    "ppc64le": (".data.rel", ".data.rel.ro", ".data..read_mostly"),
    "s390x": (".data.rel", ".data.rel.ro", ".data..read_mostly"),
    "arm64": (".data", ".rodata", ".data..read_mostly"),
}


def _references(report: dict[str, object], name: str) -> set[tuple[str, str]]:
    """(target section, relocation type) of every use of ``name`` in a convert plan."""
    symbols = report["symbols"]
    assert isinstance(symbols, list)
    return {(ref["target"], ref["type"]) for s in symbols if s["symbol"] == name
            for ref in s["references"]}


def test_calls_and_data_use_the_architectures_relocations(kernel: Kernel, symdb: pathlib.Path,
                                                         built: dict[str, Built]) -> None:
    """A call and a data access into vmlinux (``vmlinux``: kallsyms_lookup_name,
    max_threads) and into a module (``modpatch``: target_branch, target_count) become
    klp relocations of the architecture's kinds; the boots show the kernel applies
    them (lookup_ok=1, pick=b, count=b1)."""
    call, data, data_section = REACH[kernel.arch]
    for module, name, want in (("vmlinux", "kallsyms_lookup_name", (".text", call)),
                               ("vmlinux", "max_threads", (data_section, data)),
                               ("modpatch", "target_branch", (".text", call)),
                               ("modpatch", "target_count", (data_section, data))):
        refs = _references(plan_of(kernel, symdb, built[module].ko), name)
        assert want in refs, f"{module}: {name} {refs}"


def test_module_ambiguous_names_by_annotation(converted_boot: BootResult,
                                              own_targets: dict[str, Target],
                                              converted: dict[str, Conversion]) -> None:
    """KLP_MODULE_RELOC(klp_e2e_target) picks target-b.c's static function and object,
    position 2 in the module's symbol table: the patch calls that function and reads
    that object, before or after the module loads."""
    r = converted_boot
    got = _patch_output(r, converted, "modpatch", "target")
    for name, (_, value) in OWN_AMBIG.items():
        t = own_targets[name]
        ks = r.addresses(name, OWN_MODULE)
        assert len(ks) == t.count, f"{name}: {ks}\n{r.report()}"
        key = name.removeprefix("target_")
        assert got[key] == value, f"{name}\n{r.report()}"
        assert got[f"{key}@"] == hexaddr(ks[t.position - 1]), f"{name}\n{r.report()}"


def test_static_keys(converted_boot: BootResult, converted: dict[str, Conversion]) -> None:
    """The patch switches klp_e2e_target's key on with static_key_enable() and the module's
    own branch follows; its own branch on vmlinux's sched_schedstats (a klp relocation in
    its __jump_table, applied when the patch loads) follows the sysctl."""
    r = converted_boot
    got = _patch_output(r, converted, "modpatch", "target")
    if r.name == "module-first":
        assert r.out("target-unpatched")[0].startswith("klp-e2e target: branch=0 "), r.report()
    assert got["branch"] == "1", r.report()
    _kallsyms_check(r, got, ("target_key",), OWN_MODULE)
    _kallsyms_check(r, got, ("sched_schedstats",), None)
    assert r.out("schedstats-off") == ["0"] and r.rc("schedstats-on") == 0, r.report()
    assert got["schedstats"] == "0", r.report()
    on = r.out("target-schedstats")
    assert len(on) == 1 and fields(on[0])["schedstats"] == "1", r.report()


def test_data_relocations(converted_boot: BootResult, own_targets: dict[str, Target],
                          converted: dict[str, Conversion]) -> None:
    """Pointers to vmlinux's max_threads and the module's target_count in writable data,
    read-only data and .data..read_mostly hold the kallsyms addresses."""
    r = converted_boot
    got = _patch_output(r, converted, "modpatch", "target")
    count = own_targets["target_count"]
    want = f"{hexaddr(r.addresses('max_threads')[0])}," \
           f"{hexaddr(r.addresses('target_count', OWN_MODULE)[count.position - 1])}"
    assert got["max_threads@"] == want.split(",")[0], r.report()
    for table in ("data", "rodata", "read_mostly"):
        assert got[table] == want, f"{table}\n{r.report()}"


def test_data_relocation_sections(kernel: Kernel, converted: dict[str, Conversion]) -> None:
    """The converted patch has klp relocations into each kind of data section, for vmlinux
    and for the module."""
    sections = read_symtab(converted["modpatch"].ok()).sections
    for obj in ("vmlinux", OWN_MODULE):
        for name in DATA_SECTIONS[kernel.arch]:
            assert f".klp.rela.{obj}.{name}" in sections, sections


def test_convert_warns_about_reloading_the_module(kernel: Kernel, symdb: pathlib.Path,
                                                  built: dict[str, Built]) -> None:
    """klp convert warns about what test_patched_module_reloaded shows, once per module,
    with the kernel versions."""
    warnings = plan_of(kernel, symdb, built["modpatch"].ko)["warnings"]
    assert isinstance(warnings, list)
    about = [w for w in warnings if f"module {OWN_MODULE} again" in w]
    versions = {"x86_64": "before 6.3", "ppc64le": "before 6.3", "s390x": "at least 6.12"}
    if _reload_follows(kernel):
        assert not about, warnings
        return
    assert len(about) == 1 and versions[kernel.arch] in about[0], warnings


def _reload_follows(kernel: Kernel) -> bool:
    """The kernel applies a patch's relocations for a reloaded module right: arm64 (7.x),
    which rewrites every field, and x86_64 from 6.3 (clear_relocate_add)."""
    version = kernel_version(kernel.kver)
    assert version, kernel.kver
    return kernel.arch == "arm64" or (kernel.arch == "x86_64" and version >= (6, 3))


def test_patched_module_reloaded(boot_reload: BootResult, kernel: Kernel, own_module: Built,
                                 own_targets: dict[str, Target]) -> None:
    """klp_e2e_target removed and loaded again, elsewhere, while its patch stays: livepatch
    applies the patch's relocations for it a second time, and these 6.1 kernels get that
    wrong.  x86_64 refuses the non-zero targets the first time left; ppc64le finds the r2
    restore where it wants the nop; s390x loads the module, but every relocation
    through a GOT slot keeps the first time's address.  arm64 (7.x) writes every
    relocation again, and x86_64 from 6.3 clears them when the module goes, so
    there the patch follows the module to its new place."""
    r = boot_reload

    def addresses(tag: str) -> dict[str, str]:
        """The module's target_count (the annotated copy) and target_key in kallsyms."""
        found: dict[str, list[str]] = {}
        for ln in r.out(f"{tag}-kallsyms"):
            parts = ln.split()
            if parts[3:] == [f"[{OWN_MODULE}]"]:
                found.setdefault(parts[2], []).append(parts[0])
        return {"count@": found["target_count"][own_targets["target_count"].position - 1],
                "target_key@": found["target_key"][0]}

    first = r.out("first-where")
    assert len(first) == 1 and first[0].startswith("klp-e2e modpatch: where "), r.report()
    before = addresses("first")
    assert {k: fields(first[0])[k] for k in before} == before, r.report()
    assert r.rc("rmmod") == 0, r.report()
    rcs = r.insmod_rc(own_module.ko.name)
    assert len(rcs) == 2 and rcs[0] == 0, r.report()
    refused = {"x86_64": r"x86/modules: Skipping invalid relocation target, existing value "
                         r"is nonzero", "ppc64le": rf"{patch_name('modpatch')}: Expected nop "
                                                    r"after call"}
    if kernel.arch in refused and not _reload_follows(kernel):
        assert rcs[1] != 0, r.report()
        assert r.dmesg_has(refused[kernel.arch]), r.report()
        assert r.dmesg_has(rf"patch '{patch_name('modpatch')}' failed for module "
                           rf"'{OWN_MODULE}', refusing to load module '{OWN_MODULE}'"), r.report()
        return
    assert rcs[1] == 0, r.report()
    after = addresses("second")
    assert set(after.values()).isdisjoint(before.values()), \
        f"the module came back at the same place\n{r.report()}"
    second = r.out("second-where")
    assert len(second) == 1, r.report()
    if _reload_follows(kernel):
        assert {k: fields(second[0])[k] for k in after} == after, r.report()
        return
    # the GOT slots were not rewritten: the patch still points to the old module
    assert {k: fields(second[0])[k] for k in before} == before, r.report()


#: The vmlinux functions the e2e patches replace (klp_func.old_name in modules/).
PATCHED_VMLINUX_FUNCTIONS = ("cmdline_proc_show", "version_proc_show", "filesystems_proc_show")


def test_patched_functions_have_one_call_site(kernel: Kernel) -> None:
    """livepatch finds a function's ftrace call site with ftrace_location(), which takes
    whichever record of the function's kallsyms range a binary search meets (6.1, and
    still 6.12).  Where an overridden __weak function's body follows the function, its
    symbol is gone and its call site falls in that range: the patch may hook the weak
    body and never run (loadavg_proc_show on ppc64le, docs/kernels.md).  So every
    function the e2e patches must have exactly one call site in its range."""
    where, ranges = call_sites(kernel.vmlinux, kernel.system_map)
    sites = {name: ranges.get(where[name], []) for name in PATCHED_VMLINUX_FUNCTIONS}
    assert [len(offsets) for offsets in sites.values()] == [1, 1, 1], sites


def test_symdb_call_sites_match_an_independent_reading(kernel: Kernel,
                                                       symdb: pathlib.Path) -> None:
    """klp symdb build's ftrace call sites of vmlinux, against pyelftools and System.map:
    as many, and the same kallsyms ranges with several and none at their address (49 on
    the ppc64le 6.1 kernel; on x86_64 and s390x the call site is at the address, and 7.x
    builds zero the call sites of overridden __weak functions)."""
    _, ranges = call_sites(kernel.vmlinux, kernel.system_map)
    db = SymbolDB(str(symdb))
    assert int(db.object_meta("vmlinux")["ftrace-sites"]) == sum(map(len, ranges.values()))
    shared = {f"{start:016x}": tuple(offsets) for start, offsets in ranges.items()
              if len(offsets) > 1 and offsets[0] != 0}
    assert db.shared_call_sites("vmlinux") == shared
    assert len(shared) == (49 if kernel.arch == "ppc64le" else 0), sorted(shared)


def test_symdb_clones_match_system_map(kernel: Kernel, symdb: pathlib.Path) -> None:
    """The compiler copies klp symdb build records for vmlinux are System.map's text
    symbols with GCC's clone suffixes, function by function."""
    names = [parts[2] for parts in (line.split() for line in
                                    kernel.system_map.read_text().splitlines())
             if len(parts) >= 3 and parts[1] in "tT"]
    copies = [n for n in names
              if re.fullmatch(r".+?(\.(constprop|isra|part)\.\d+)+", n)]
    expected: dict[str, list[str]] = {}
    for name in sorted(set(copies)):
        base = re.sub(r"(\.(constprop|isra|part)\.\d+)+$", "", name)
        expected.setdefault(base, []).append(name)
    assert expected, "no compiler copies at all"
    assert SymbolDB(str(symdb)).compiler_clones("vmlinux", set(expected)) == expected


def test_module_symbols_equal_the_guest_kallsyms(boot_module_first: BootResult,
                                                 symdb: pathlib.Path) -> None:
    """A live module's /proc/kallsyms lines are its kept symbols in symbol-table order:
    the names and types the database has for it, in its order (on ppc64 that includes
    the .init symbols: its loader keeps .init sections with the core)."""
    guest: dict[str, list[tuple[str, str]]] = {}
    for line in boot_module_first.out("module-symbols"):
        _, letter, name, module = line.split()
        guest.setdefault(module.strip("[]"), []).append((name, letter))
    assert set(guest) == {TARGET_MODULE, OWN_MODULE}, boot_module_first.report()
    db: dict[str, list[tuple[str, str]]] = {}
    for r in SymbolDB(str(symdb)):
        if r.obj in guest:
            db.setdefault(r.obj, []).append((r.name, r.letter))
    for obj, lines in guest.items():
        assert db[obj] == lines, obj


def test_vmlinux_symbols_equal_the_guest_kallsyms(boot_module_first: BootResult,
                                                  symdb: pathlib.Path) -> None:
    """Every vmlinux line of /proc/kallsyms, in order, is the database's vmlinux list:
    names, order and letters (x86_64 6.1 and 6.12 show their per-CPU symbols as
    absolute, A, as the kallsyms table the database reads them from has them)."""
    guest = [line.split() for line in boot_module_first.out("vmlinux-symbols")]
    assert len(guest) > 10_000, boot_module_first.report()
    mine = [(r.name, r.letter) for r in SymbolDB(str(symdb)) if r.obj == "vmlinux"]
    assert [name for name, _ in mine] == [name for _, _, name in guest]
    letters = [(name, ours, theirs) for (name, ours), (_, theirs, _)
               in zip(mine, guest, strict=True) if ours != theirs]
    assert not letters, letters[:20]


def test_system_map_symbols_equal_the_guest_kallsyms(boot_module_first: BootResult,
                                                     kernel: Kernel, work: pathlib.Path) -> None:
    """A database of System.map and the modules alone (no vmlinux, so no kallsyms
    table to follow) has the guest's vmlinux symbols, each name's copies in the
    guest's order (so the same positions): the rules, with the modules' release
    deciding whether the table's own symbols are listed. Symbols of one address may
    be listed in another order (System.map's, not kallsyms' tie-break), and the
    guest's addresses may be shifted by KASLR (not its per-CPU offsets)."""
    guest: dict[str, list[int]] = {}
    for line in boot_module_first.out("vmlinux-symbols"):
        address, _, name = line.split()
        guest.setdefault(name, []).append(int(address, 16))
    out = work / "system-map.klp"
    klp("symdb", "build", "--system-map", str(kernel.system_map), "--modules",
        str(kernel.modules_dir), "-o", str(out))
    mine: dict[str, list[int]] = {}
    for r in SymbolDB(str(out)):
        if r.obj == "vmlinux":
            mine.setdefault(r.name, []).append(r.value or 0)
    assert {n: len(v) for n, v in mine.items()} == {n: len(v) for n, v in guest.items()}
    shift = guest["_stext"][0] - mine["_stext"][0]
    moved = [name for name, addresses in guest.items()
             if any(a not in (b, (b + shift) % (1 << 64))
                    for a, b in zip(addresses, mine[name], strict=True))]
    assert not moved, moved[:20]


def test_verify_binds_as_the_kernel_did(boot_patch_first: BootResult,
                                        converted: dict[str, Conversion], symdb: pathlib.Path,
                                        work: pathlib.Path) -> None:
    """klp verify, before any loading, says each klp symbol lands where the kernel then
    bound it: the same address as the guest's /proc/kallsyms for vmlinux (nokaslr), the
    same position among the module's copies; and again from the guest's kallsyms lines
    alone (--kallsyms), the same running addresses, each the copy the module's record
    of its build names."""
    r = boot_patch_first
    dump = guest_kallsyms(r, work / "guest-kallsyms")
    sysfs = guest_sysfs(r, work / "guest-sysfs")
    compared = 0
    for key, conv in converted.items():
        ko = conv.ok()
        by_db = verify_report(ko, "--symdb", str(symdb))
        assert by_db["target"]["converted_for"], by_db["target"]
        guest = verify_report(ko, "--kallsyms", str(dump), "--sysfs", str(sysfs), check=None)
        assert not [p for p in guest["problems"] if "the build it was converted for" in
                    p["message"]], (key, guest["problems"])
        assert not [w for w in guest["warnings"] if "than the module was converted for" in w]
        running = {s["klp_symbol"]: s for s in guest["symbols"]}
        for s in by_db["symbols"]:
            module = None if s["object"] == "vmlinux" else s["object"]
            seen = r.addresses(s["name"], module)
            if not seen:
                continue  # a name the guest was not asked to list
            index = max(s["position"], 1) - 1
            assert len(seen) == s["binds_to"]["count"], (key, s, seen)
            if module is None:
                assert int(s["binds_to"]["address"], 16) == seen[index], (key, s, seen)
            assert running[s["klp_symbol"]]["binds_to"]["value"] == seen[index], (key, s)
            compared += 1
    assert compared >= 10


def test_sysfs_names_the_build_that_runs(boot_patch_first: BootResult, kernel: Kernel,
                                        converted: dict[str, Conversion], symdb: pathlib.Path,
                                        work: pathlib.Path) -> None:
    """What klp verify reads from the guest's sysfs (kernel/notes, module/NAME/notes/*,
    in the kernel's byte order) are the build IDs of the vmlinux and modules the
    database was built from; a vmlinux of another build is a warning."""
    sysfs = guest_sysfs(boot_patch_first, work / "guest-sysfs-ids")
    db = SymbolDB(str(symdb))
    little = ElfFile.open(kernel.vmlinux).little
    assert build_id_in_notes((sysfs / "kernel" / "notes").read_bytes(), little) == db.build_id
    loaded = [p for p in sorted((sysfs / "module").glob("*/notes/.note.gnu.build-id"))
              if p.parts[-3] in db.objects()]
    assert loaded, boot_patch_first.out("sysfs")
    for note in loaded:
        assert build_id_in_notes(note.read_bytes(), little) == \
            db.object_meta(note.parts[-3])["build-id"], note
    notes = bytearray((sysfs / "kernel" / "notes").read_bytes())
    notes[notes.index(bytes.fromhex(db.build_id))] ^= 0xFF
    (sysfs / "kernel" / "notes").write_bytes(notes)
    dump = guest_kallsyms(boot_patch_first, work / "guest-kallsyms-ids")
    doc = verify_report(converted["vmlinux"].ok(), "--kallsyms", str(dump), "--sysfs",
                        str(sysfs), check=None)
    assert [w for w in doc["warnings"] if w.startswith(
        "vmlinux on the target is another build than the module was converted for")], doc


def verify_report(ko: pathlib.Path, *args: str, check: int | None = 0) -> dict[str, Any]:
    """``klp verify KO ARGS --json``; exit 0 unless ``check`` is None (a partial kallsyms
    dump knows only the objects and names the guest listed)."""
    proc = klp("verify", str(ko), *args, "--json")
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report
