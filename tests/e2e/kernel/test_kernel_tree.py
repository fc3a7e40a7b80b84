"""klp in a kernel build: docs/integration.md run on a real kernel tree, then booted.

The tree is the tiny livepatch kernel of ``tests/e2e/kernel/build-kernel.sh``
(Debian's linux-source-6.1, tinyconfig plus livepatch.config), cached in
``$KLP_REALDATA/kernel-<key>/``.  When it is missing the tests are skipped,
unless ``KLP_REQUIRE_REALDATA=1`` or ``KLP_KERNEL_BUILD=1``: then it is built
here (150-300 s with 2 cores, once; later runs reuse it).

The tests work in the cached tree itself (a copy would not do: objtool's
build records absolute paths, so a moved tree rebuilds everything), under a
lock, after undoing what an earlier run left (the sample, symbols.klp, the
conversions).  Then, in order:

1. the ``sh`` blocks of docs/integration.md: ``klp-symdb`` on the built
   tree, the in-tree sample (``samples/livepatch/klp-sample-nonexp.c``, whose
   KLP_SYMPOS positions the test computes from System.map), and the same
   source as an external ``M=`` module;
2. the same make commands again: nothing may be rewritten (mtimes and hashes);
3. symbols.klp deleted: it is rebuilt with the same bytes and every livepatch
   module is converted again, from kbuild's output;
4. the sample's source touched: kbuild relinks it, and only it is converted;
5. a qemu boot: the kernel's own sample, the unconverted module (refused),
   the in-tree and the external converted modules (loaded; the addresses they
   print are the System.map and /proc/kallsyms ones of the intended copies);
6. ``klp-clean``;
7. ``klp-convert`` with ``O=`` naming a copy of the build elsewhere: everything
   is written there, nothing in the source tree.

``klp symdb build --kernel-tree`` is also checked against System.map (every
vmlinux name: same addresses, in position order), and the docs' last section
(an external module against Debian's cloud kernel headers) runs and boots
when the ``cloud-amd64`` set is fetched.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.harness import (
    BootResult,
    GuestPlan,
    Kernel,
    boot_plan,
    fields,
    hexaddr,
    local_symbols,
    read_symtab,
    system_map,
)
from tests.e2e.kernel.tree import Tree, built_tree, is_livepatch, need_tools
from tests.support.paths import ROOT, realdata_or_skip

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.e2e]

HERE = pathlib.Path(__file__).resolve().parent
SAMPLE_SRC = HERE / "klp-sample-nonexp.c"
DOC = ROOT / "docs" / "integration.md"

SAMPLES = "samples/livepatch"
SAMPLE = "klp-sample-nonexp"  # the in-tree module (file name)
EXT = "klp-sample-ext"  # the same source as an M= module
#: Defined once in vmlinux: position 0.
UNIQUE = ("max_threads", "saved_command_line", "kallsyms_lookup_name")
#: Defined several times: the copy the sample means, by source file.  set_root
#: of ucount.c is an object listed before namei.c's function in .symtab but
#: after it by address; positions count by address.
AMBIG = {"s_next": "trace_events.c", "trace_module_nb": "trace_events.c",
         "set_root": "ucount.c"}
#: docs/integration.md sections run on the tiny tree, in order, in one shell.
TREE_SECTIONS = ("Set-up", "The livepatch", "In the kernel tree", "Out of tree (`M=`)")
#: ... and against Debian's cloud kernel.
DISTRO_SECTIONS = ("Set-up", "Out of tree, against a distribution kernel")
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
KLP_LINE = re.compile(r"^  KLP     (.*)$", re.M)


# --------------------------------------------------------------------------- helpers


def doc_sections() -> dict[str, str]:
    """The ``sh`` blocks of each ``## `` section of docs/integration.md, joined."""
    found: dict[str, str] = {}
    for part in re.split(r"^## ", DOC.read_text(), flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        found[title.strip()] = "".join(BLOCK.findall(body))
    return found


def doc_script(sections: tuple[str, ...]) -> str:
    found = doc_sections()
    missing = [s for s in sections if s not in found]
    assert not missing, f"docs/integration.md lacks the sections {missing}"
    return "\n".join(found[s] for s in sections)


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Shell:
    """One command run on the host: its output, status and duration."""

    command: str
    returncode: int
    output: str
    seconds: float

    def report(self) -> str:
        return (f"$ {self.command}\n# rc={self.returncode}, {self.seconds:.1f} s\n"
                f"{self.output[-6000:]}")

    def klp_lines(self) -> list[str]:
        """The ``  KLP     ...`` lines of klp.mk (what it rebuilt or converted)."""
        return KLP_LINE.findall(self.output)


def run(command: str, env: dict[str, str], timeout: float = 1800) -> Shell:
    t0 = time.monotonic()
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, check=False)
    return Shell(command, proc.returncode, proc.stdout, time.monotonic() - t0)


# --------------------------------------------------------------------------- the tree


@pytest.fixture(scope="module")
def tree() -> Iterator[Tree]:
    """The built tree, locked for this module (built here if allowed and missing)."""
    built = built_tree()
    with open(built.root / ".use.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        reset(built)
        yield built


def reset(tree: Tree) -> None:
    """Undo an earlier run: kbuild's modules back, no symbols.klp, no sample."""
    top = tree.path
    for orig in top.rglob(".*.ko.klp-orig"):
        orig.replace(orig.parent / orig.name[1:].removesuffix(".klp-orig"))
    for stamp in top.rglob(".*.ko.klp-stamp"):
        stamp.unlink()
    for name in ("symbols.klp", "symbols.klp.tmp", ".symbols.klp.stamp"):
        (top / name).unlink(missing_ok=True)
    folder = top / SAMPLES
    removed = [p for p in (*folder.glob(f"{SAMPLE}*"), *folder.glob(f".{SAMPLE}*")) if p.is_file()]
    for p in removed:
        p.unlink()
    makefile = folder / "Makefile"
    lines = makefile.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if SAMPLE not in ln]
    if kept != lines:
        makefile.write_text("".join(kept))
    if removed or kept != lines:
        # kbuild forgets the sample (modules.order, modpost) before the docs start
        proc = subprocess.run(["make", "-C", str(top), f"-j{os.cpu_count() or 2}"],
                              env=tree.build_env(), capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert SAMPLE not in (top / "modules.order").read_text()


@dataclass(frozen=True)
class Target:
    """The copy of a vmlinux name the sample means: address and position."""

    name: str
    address: int
    position: int
    count: int


@pytest.fixture(scope="module")
def targets(tree: Tree) -> dict[str, Target]:
    """Positions from the tree's own files: the source file in .symtab, the rank in System.map."""
    smap = system_map(tree.system_map, [*UNIQUE, *AMBIG])
    found = {}
    for name in UNIQUE:
        addrs = smap.get(name, [])
        assert len(addrs) == 1, f"{name} is not unique in System.map: {addrs}"
        found[name] = Target(name, addrs[0], 0, 1)
    locals_ = local_symbols(tree.vmlinux, AMBIG)
    for name, source in AMBIG.items():
        mine = [s.address for s in locals_ if (s.file, s.name) == (source, name)]
        assert len(mine) == 1, f"{name} of {source}: {len(mine)} copies in vmlinux"
        addrs = smap.get(name, [])
        assert len(addrs) > 1, f"{name} is not ambiguous in System.map: {addrs}"
        found[name] = Target(name, mine[0], addrs.index(mine[0]) + 1, len(addrs))
    in_symtab = [s.address for s in locals_ if s.name == "set_root"]
    assert in_symtab.index(found["set_root"].address) + 1 != found["set_root"].position, \
        "set_root no longer tells .symtab order from address order"
    return found


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Scratch folder: the sample with its positions, the M= module, initramfs, logs."""
    keep = os.environ.get("KLP_KERNEL_TEST_DIR")
    if keep:
        path = pathlib.Path(keep)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path
    return tmp_path_factory.mktemp("kernel")


@pytest.fixture(scope="module")
def sample(targets: dict[str, Target], work: pathlib.Path) -> pathlib.Path:
    """The sample's source with this kernel's positions in its KLP_SAMPLE_POS_* lines."""
    text = SAMPLE_SRC.read_text()
    for name in AMBIG:
        text, n = re.subn(rf"^(#define KLP_SAMPLE_POS_{name.upper()}) \d+$",
                          rf"\g<1> {targets[name].position}", text, flags=re.M)
        assert n == 1, f"no KLP_SAMPLE_POS_{name.upper()} line in {SAMPLE_SRC}"
    out = work / f"{SAMPLE}.c"
    out.write_text(text)
    return out


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Snapshot:
    """mtime and SHA-256 of what klp.mk writes (and of the kernel it reads)."""

    files: dict[str, tuple[int, str]]

    @classmethod
    def take(cls, tree: Tree, ext: pathlib.Path) -> Snapshot:
        top = tree.path
        paths = [top / "symbols.klp", top / ".symbols.klp.stamp", top / "vmlinux"]
        for folder in (top / SAMPLES, ext):
            paths += [*sorted(folder.glob("*.ko")), *sorted(folder.glob(".*.ko.klp-*"))]
        return cls({str(p): (p.stat().st_mtime_ns, sha256(p)) for p in paths if p.is_file()})

    def changed(self, other: Snapshot) -> list[str]:
        keys = self.files.keys() | other.files.keys()
        return sorted(k for k in keys if self.files.get(k) != other.files.get(k))

    def mtime(self, path: pathlib.Path) -> int:
        return self.files[str(path)][0]

    def digest(self, path: pathlib.Path) -> str:
        return self.files[str(path)][1]


@dataclass(frozen=True)
class Step:
    """A run of klp.mk commands, with the state before and after."""

    shells: list[Shell]
    before: Snapshot
    after: Snapshot

    def report(self) -> str:
        return "\n".join(s.report() for s in self.shells)

    def klp_lines(self) -> list[str]:
        return [ln for s in self.shells for ln in s.klp_lines()]


def klp_mk() -> str:
    """klp.mk as the docs find it: ``$(klp --kbuild-mk)``."""
    found = subprocess.run(["klp", "--kbuild-mk"], capture_output=True, text=True, check=True)
    path = pathlib.Path(found.stdout.strip())
    assert path.is_file(), path
    return str(path)


def tree_commands(tree: Tree, ext: pathlib.Path) -> list[str]:
    """The docs' in-tree and M= make commands, for the reruns."""
    mk, top, jobs = shlex.quote(klp_mk()), shlex.quote(str(tree.path)), os.cpu_count() or 2
    return [f"make -f {mk} -C {top} -j{jobs}",
            f"make -f {mk} -C {top} M={shlex.quote(str(ext))} -j{jobs}"]


def step(tree: Tree, ext: pathlib.Path, commands: list[str],
         prepare: Callable[[], object] | None = None) -> Step:
    """Snapshot, ``prepare()``, run the commands (each must succeed), snapshot."""
    before = Snapshot.take(tree, ext)
    if prepare is not None:
        prepare()
    shells = [run(c, tree.build_env()) for c in commands]
    for s in shells:
        assert s.returncode == 0, s.report()
    return Step(shells, before, Snapshot.take(tree, ext))


@pytest.fixture(scope="module")
def ext(work: pathlib.Path) -> pathlib.Path:
    return work / "ext"


@pytest.fixture(scope="module")
def doc_run(tree: Tree, sample: pathlib.Path, ext: pathlib.Path) -> Step:
    """docs/integration.md on the tree: klp-symdb, the in-tree sample, the M= module."""
    before = Snapshot.take(tree, ext)
    env = dict(tree.build_env(), KSRC=str(tree.path), SAMPLE=str(sample), EXT=str(ext),
               STAGING=str(ext.parent / "staging"))
    shell = run(doc_script(TREE_SECTIONS), env)
    assert shell.returncode == 0, shell.report()
    print(f"docs/integration.md on the tree: {shell.seconds:.1f} s")
    return Step([shell], before, Snapshot.take(tree, ext))


@pytest.fixture(scope="module")
def second_run(tree: Tree, ext: pathlib.Path, doc_run: Step) -> Step:
    """The in-tree and the M= command again, with nothing changed."""
    return step(tree, ext, tree_commands(tree, ext))


@pytest.fixture(scope="module")
def symdb_run(tree: Tree, ext: pathlib.Path, second_run: Step) -> Step:
    """symbols.klp deleted, then both commands: a new database, every module converted
    again (V=1: klp.mk then shows each conversion's report, not only its KLP line)."""
    return step(tree, ext, [f"{c} V=1" for c in tree_commands(tree, ext)],
                (tree.path / "symbols.klp").unlink)


@pytest.fixture(scope="module")
def relink_run(tree: Tree, ext: pathlib.Path, symdb_run: Step) -> Step:
    """The in-tree sample's source touched, then the in-tree command."""
    return step(tree, ext, tree_commands(tree, ext)[:1],
                (tree.path / SAMPLES / f"{SAMPLE}.c").touch)


def livepatch_modules(tree: Tree, ext: pathlib.Path) -> list[pathlib.Path]:
    """The modules of the tree and of EXT whose .modinfo says livepatch=Y."""
    return [ko for ko in [*sorted((tree.path / SAMPLES).glob("*.ko")), *sorted(ext.glob("*.ko"))]
            if is_livepatch(ko)]


# --------------------------------------------------------------------------- the boot


@pytest.fixture(scope="module")
def booted(tree: Tree, ext: pathlib.Path, work: pathlib.Path, relink_run: Step) -> BootResult:
    """The kernel's sample, the unconverted module, the in-tree and the M= module."""
    folder = tree.path / SAMPLES
    raw = work / f"{SAMPLE}-raw.ko"
    shutil.copyfile(folder / f".{SAMPLE}.ko.klp-orig", raw)
    plan = GuestPlan()
    plan.insmod(folder / "livepatch-sample.ko")
    plan.run("cmdline-sample", "cat /proc/cmdline")
    plan.insmod(raw)
    plan.insmod(folder / f"{SAMPLE}.ko")
    plan.run("cmdline-intree", "cat /proc/cmdline")
    plan.insmod(ext / f"{EXT}.ko")
    plan.run("cmdline-ext", "cat /proc/cmdline")
    plan.run("threads-max", "cat /proc/sys/kernel/threads-max")
    plan.kallsyms(*UNIQUE, *AMBIG)
    result = boot_plan(tree.kernel(), plan, work, "tiny")
    assert result.completed, result.report()
    return result


@pytest.fixture(scope="module")
def cleaned(tree: Tree, ext: pathlib.Path, booted: BootResult) -> tuple[Step, dict[str, str]]:
    """``klp-clean`` for the M= folder and the tree, after everything else."""
    origs = {str(o.parent / o.name[1:].removesuffix(".klp-orig")): sha256(o)
             for o in [*(tree.path / SAMPLES).glob(".*.ko.klp-orig"), *ext.glob(".*.ko.klp-orig")]}
    mk, top = shlex.quote(klp_mk()), shlex.quote(str(tree.path))
    return step(tree, ext, [f"make -f {mk} -C {top} M={shlex.quote(str(ext))} klp-clean",
                            f"make -f {mk} -C {top} klp-clean"]), origs


# --------------------------------------------------------------------------- tests


def test_doc_sections_all_run() -> None:
    """Every section of docs/integration.md with commands is run by this file."""
    with_commands = {t for t, script in doc_sections().items() if script.strip()}
    assert with_commands == set(TREE_SECTIONS) | set(DISTRO_SECTIONS)


def test_docs_build_and_convert(doc_run: Step, tree: Tree, ext: pathlib.Path,
                                targets: dict[str, Target]) -> None:
    """The documented commands build the sample in the tree and in M=, and convert both."""
    lines = doc_run.klp_lines()
    assert "symbols.klp" in lines, doc_run.report()  # klp-symdb on the built tree
    # the in-tree build rescans the tree; the sample is a livepatch, left out
    assert lines.count("symbols.klp (unchanged)") == 1, doc_run.report()
    assert f"{SAMPLES}/{SAMPLE}.ko" in lines, doc_run.report()
    assert str(ext / f"{EXT}.ko") in lines, doc_run.report()
    want = {f".klp.sym.vmlinux.{n},{targets[n].position}" for n in (*UNIQUE, *AMBIG)}
    for ko in (tree.path / SAMPLES / f"{SAMPLE}.ko", ext / f"{EXT}.ko"):
        table = read_symtab(ko)
        got = {s.name for s in table.symbols if s.name.startswith(".klp.sym.")}
        assert got == want, ko
        assert not [s for s in table.symbols if s.shndx == "SHN_UNDEF" and s.name in want], ko
        assert any(s.startswith(".klp.rela.vmlinux.") for s in table.sections), table.sections
        assert not any(s.startswith(".klp.module_relocs") for s in table.sections)
        # kbuild's output is kept next to it, unconverted
        orig = read_symtab(ko.parent / f".{ko.name}.klp-orig")
        undefined = {s.name for s in orig.symbols if s.shndx == "SHN_UNDEF"}
        assert set(UNIQUE) | set(AMBIG) <= undefined


def test_installed_module_is_the_converted_one(doc_run: Step, tree: Tree,
                                               ext: pathlib.Path) -> None:
    """``make modules_install`` (the docs' staging folder) installs the converted module."""
    installed = list((ext.parent / "staging" / "lib" / "modules").glob(
        f"*/kernel/{SAMPLES}/{SAMPLE}.ko"))
    assert len(installed) == 1, installed
    assert sha256(installed[0]) == sha256(tree.path / SAMPLES / f"{SAMPLE}.ko")


def test_every_livepatch_module_stamped(doc_run: Step, tree: Tree, ext: pathlib.Path) -> None:
    """Each livepatch module (the kernel's samples too) has a stamp with its hash; no other does."""
    lps = livepatch_modules(tree, ext)
    assert {ko.name for ko in lps} >= {"livepatch-sample.ko", f"{SAMPLE}.ko", f"{EXT}.ko"}
    for ko in lps:
        stamp = ko.parent / f".{ko.name}.klp-stamp"
        assert stamp.read_text().split()[0] == sha256(ko), ko
    for ko in (tree.path / SAMPLES).glob("*.ko"):
        if ko not in lps:
            assert not (ko.parent / f".{ko.name}.klp-stamp").exists(), ko


def test_symdb_matches_system_map(doc_run: Step, tree: Tree) -> None:
    """symbols.klp of the tree: each vmlinux name's addresses in position order are
    System.map's, i.e. /proc/kallsyms order, for every name."""
    ours: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    in_vmlinux = False
    with (tree.path / "symbols.klp").open() as f:
        for line in f:
            if line.startswith("*"):
                in_vmlinux = line.rstrip("\n") == "*vmlinux"
                continue
            if line.startswith("#"):
                break
            if not in_vmlinux or line.startswith("%"):
                continue
            fs = line.rstrip("\n").split("\t")
            ours[fs[0]].append((int(fs[1]), int(fs[2]), int(fs[8], 16)))
    theirs = system_map(tree.system_map)
    assert len(ours) > 10_000
    only_ours = sorted(ours.keys() - theirs.keys())
    assert not only_ours, only_ours[:20]
    wrong = []
    for name, entries in ours.items():
        entries.sort()
        positions = [e[0] for e in entries]
        if positions != list(range(1, len(entries) + 1)) or {e[1] for e in entries} != {
                len(entries)} or [e[2] for e in entries] != theirs[name]:
            wrong.append((name, entries, theirs[name]))
    assert not wrong, wrong[:10]
    # System.map names that symbols.klp leaves out: only what kallsyms leaves out
    # too (its own tables, x86's init_per_cpu__ aliases, absolute symbols)
    absolute = {ln.split()[2] for ln in tree.system_map.read_text().splitlines()
                if ln.split()[1] in ("a", "A")}
    dropped = sorted(n for n in theirs.keys() - ours.keys()
                     if not n.startswith(("kallsyms_", "init_per_cpu__")) and n not in absolute)
    assert not dropped, dropped[:50]


def test_failed_conversion_deletes_the_module(doc_run: Step, tree: Tree, sample: pathlib.Path,
                                              work: pathlib.Path,
                                              targets: dict[str, Target]) -> None:
    """A conversion that fails (position 0 for an ambiguous name) fails the make,
    deletes the .ko and keeps kbuild's output; once the source is fixed, the next
    make relinks the module and converts it."""
    bad = work / "bad"
    bad.mkdir()
    good = sample.read_text()
    wrong, n = re.subn(r"^(#define KLP_SAMPLE_POS_S_NEXT) \d+$", r"\g<1> 0", good, flags=re.M)
    assert n == 1
    (bad / "klp-sample-bad.c").write_text(wrong)
    (bad / "Kbuild").write_text("obj-m += klp-sample-bad.o\nccflags-y += -I$(KLP_INCLUDE_DIR)\n")
    command = tree_commands(tree, bad)[1]
    first = run(command, tree.build_env())
    assert first.returncode != 0, first.report()
    assert "s_next" in first.output and "deleted: not converted" in first.output, first.report()
    ko = bad / "klp-sample-bad.ko"
    assert not ko.exists()
    assert (bad / ".klp-sample-bad.ko.klp-orig").is_file()
    assert not (bad / ".klp-sample-bad.ko.klp-stamp").exists()
    (bad / "klp-sample-bad.c").write_text(good)
    second = run(command, tree.build_env())
    assert second.returncode == 0, second.report()
    assert second.klp_lines() == [str(ko)], second.report()
    names = {s.name for s in read_symtab(ko).symbols}
    assert f".klp.sym.vmlinux.s_next,{targets['s_next'].position}" in names


def test_second_run_rewrites_nothing(second_run: Step) -> None:
    assert second_run.klp_lines() == [], second_run.report()
    assert second_run.before.changed(second_run.after) == [], second_run.report()


def test_new_symdb_reconverts_from_kbuild_output(symdb_run: Step, tree: Tree,
                                                 ext: pathlib.Path,
                                                 targets: dict[str, Target]) -> None:
    """A rewritten symbols.klp converts every livepatch module again, from kbuild's copy."""
    r = symdb_run
    symdb = tree.path / "symbols.klp"
    assert r.after.digest(symdb) == r.before.digest(symdb), "same tree, same database"
    assert r.after.mtime(symdb) > r.before.mtime(symdb)
    lps = livepatch_modules(tree, ext)
    for ko in lps:
        stamp = ko.parent / f".{ko.name}.klp-stamp"
        assert r.after.mtime(stamp) > r.before.mtime(stamp), ko
        assert r.after.digest(ko) == r.before.digest(ko), f"{ko}: not reproducible"
    converted = {ln for ln in r.klp_lines() if ln.endswith(".ko")}
    assert len(converted) == len(lps), r.report()
    # converted from kbuild's output (not "already converted"): the plan is printed again
    s_next = f".klp.sym.vmlinux.s_next,{targets['s_next'].position}\tannotation"
    assert sum(s.output.count(s_next) for s in r.shells) == 2, r.report()


def test_relinked_module_alone_is_converted(relink_run: Step, tree: Tree) -> None:
    r = relink_run
    assert re.search(rf"CC \[M\]  {SAMPLES}/{SAMPLE}\.o", r.report()), r.report()
    # modpost rewrote Module.symvers, so the tree may be scanned again; same content
    lines = [ln for ln in r.klp_lines() if ln != "symbols.klp (unchanged)"]
    assert lines == [f"{SAMPLES}/{SAMPLE}.ko"], r.report()
    changed = {pathlib.Path(p).name for p in r.before.changed(r.after)}
    assert changed <= {f"{SAMPLE}.ko", f".{SAMPLE}.ko.klp-orig", f".{SAMPLE}.ko.klp-stamp",
                       ".symbols.klp.stamp"}, changed
    assert f"{SAMPLE}.ko" in changed
    assert "symbols.klp" not in changed


def test_kernel_sample_loads(booted: BootResult) -> None:
    r = booted
    assert r.insmod_rc("livepatch-sample.ko") == [0], r.report()
    assert r.out("cmdline-sample") == ["this has been live patched"], r.report()


def test_unconverted_module_is_refused(booted: BootResult) -> None:
    r = booted
    rc = r.insmod_rc(f"{SAMPLE}-raw.ko")
    assert rc and rc[0] != 0, r.report()
    for name in (*UNIQUE, *AMBIG):
        assert r.dmesg_has(rf"klp_sample_nonexp: Unknown symbol {name} \(err -2\)"), \
            f"no 'Unknown symbol {name}'\n{r.report()}"


@pytest.mark.parametrize(("ko", "modname", "tag"), [
    (f"{SAMPLE}.ko", "klp_sample_nonexp", "cmdline-intree"),
    (f"{EXT}.ko", "klp_sample_ext", "cmdline-ext"),
], ids=["in-tree", "external"])
def test_converted_module_binds_the_intended_symbols(booted: BootResult,
                                                      targets: dict[str, Target], ko: str,
                                                      modname: str, tag: str) -> None:
    r = booted
    assert r.insmod_rc(ko) == [0], r.report()
    assert r.livepatches.get(modname) == {"enabled": "1", "transition": "0"}, r.report()
    line = r.out(tag)
    assert len(line) == 1 and line[0].startswith(f"{modname}: "), r.report()
    got = fields(line[0])
    assert got["lookup_ok"] == "1", r.report()
    assert got["max_threads"] == r.out("threads-max")[0], r.report()
    assert got["priority"] == "1", r.report()  # trace_events.c's notifier, not trace.c's (0)
    for name, t in targets.items():
        ks = r.addresses(name)
        assert len(ks) == t.count, f"{name}: {ks}\n{r.report()}"
        want = ks[t.position - 1] if t.position else ks[0]
        assert got[f"{name}@"] == hexaddr(want) == hexaddr(t.address), f"{name}\n{r.report()}"


def test_klp_clean(cleaned: tuple[Step, dict[str, str]], tree: Tree, ext: pathlib.Path) -> None:
    """klp-clean puts kbuild's modules back and removes symbols.klp and the stamps."""
    r, origs = cleaned
    assert origs, "nothing was converted"
    restored = [ln for s in r.shells for ln in s.output.splitlines() if ln.startswith("  RESTORE ")]
    assert len(restored) == len(origs), r.report()
    for ko, digest in origs.items():
        assert sha256(pathlib.Path(ko)) == digest, ko
    left = [*(tree.path / SAMPLES).glob(".*.ko.klp-*"), *ext.glob(".*.ko.klp-*")]
    assert left == [], left
    assert not (tree.path / "symbols.klp").exists()


def test_separate_object_tree(cleaned: tuple[Step, dict[str, str]], tree: Tree,
                              tmp_path: pathlib.Path) -> None:
    """``O=``: klp.mk finds the build in the object tree (here given relative to
    ``-C``, as kbuild reads it), writes symbols.klp and the conversions there,
    and leaves the source tree alone.  Steps 2 and 3 only: an ``O=`` kernel build
    needs a clean source tree, and the cached one is built in place."""
    top = tree.path
    obj = tmp_path / "obj"
    order = (top / "modules.order").read_text().split()
    for rel in ("vmlinux", "Module.symvers", "modules.order",
                *(m.removesuffix(".o") + ".ko" if m.endswith(".o") else m for m in order)):
        (obj / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(top / rel, obj / rel)
    source_files = {p: sha256(p) for p in top.glob(f"{SAMPLES}/*.ko")}
    mk, rel_obj = shlex.quote(klp_mk()), shlex.quote(os.path.relpath(obj, top))
    shell = run(f"make -f {mk} -C {shlex.quote(str(top))} O={rel_obj} klp-convert",
                tree.build_env())
    assert shell.returncode == 0, shell.report()
    lines = shell.klp_lines()
    assert lines[0] == "symbols.klp", shell.report()
    assert f"{SAMPLES}/{SAMPLE}.ko" in lines and f"{SAMPLES}/livepatch-sample.ko" in lines
    assert (obj / "symbols.klp").is_file() and not (top / "symbols.klp").exists()
    converted = read_symtab(obj / SAMPLES / f"{SAMPLE}.ko")
    assert {s.name for s in converted.symbols if s.name.startswith(".klp.sym.vmlinux.")}
    assert (obj / SAMPLES / f".{SAMPLE}.ko.klp-stamp").is_file()
    assert {p: sha256(p) for p in top.glob(f"{SAMPLES}/*.ko")} == source_files
    assert not list(top.glob(f"{SAMPLES}/.*.ko.klp-*"))


# --------------------------------------------------------------------------- distro kernel


def test_distro_headers_flow(tmp_path: pathlib.Path) -> None:
    """The docs' last section: an M= module against Debian's cloud kernel headers,
    with a symbols.klp built beforehand; the converted module loads."""
    env_set = realdata_or_skip("cloud-amd64")
    need_tools("make", "gcc", "qemu-system-x86_64")
    distro = tmp_path / "distro"
    env = dict(os.environ, DISTRO=str(distro))
    shell = run(doc_script(DISTRO_SECTIONS), env)
    assert shell.returncode == 0, shell.report()
    ko = distro / "patch" / "klp-e2e-vmlinux.ko"
    assert shell.klp_lines() == [str(ko)], shell.report()
    got = {s.name for s in read_symtab(ko).symbols if s.name.startswith(".klp.sym.")}
    assert got == {f".klp.sym.vmlinux.{n},0" for n in UNIQUE}
    kernel = Kernel.from_env(env_set)
    plan = GuestPlan()
    plan.insmod(ko)
    plan.run("cmdline", "cat /proc/cmdline")
    plan.run("threads-max", "cat /proc/sys/kernel/threads-max")
    r = boot_plan(kernel, plan, tmp_path, "distro")
    assert r.completed, r.report()
    assert r.insmod_rc(ko.name) == [0], r.report()
    line = r.out("cmdline")
    assert len(line) == 1 and line[0].startswith("klp-e2e vmlinux: "), r.report()
    assert fields(line[0])["lookup_ok"] == "1", r.report()
    assert fields(line[0])["max_threads"] == r.out("threads-max")[0], r.report()
