"""Cross-built livepatch modules for arm64, ppc64el and s390x, converted and checked with readelf.

``tests/convert/xbuild/klp-xbuild.c`` is a livepatch for the loadable module
isofs.  It is built against each Debian 12 headers package
(``tests/realdata/fetch.sh arm64 ppc64el s390x``) with the cross compiler the
headers ask for, ``klp symdb build`` scans the image's modules (and ppc64el's
vmlinux, the only image that ships one with a symbol table, through ``nm -n``: see
:func:`nm_system_map`), and ``klp
convert`` converts the module.  The result is checked with binutils ``readelf
-SW -sW -rW`` (and ``-h``), never with klp's own ELF code, against the rules the
kernel applies when it loads a livepatch (expected objects and positions come
from isofs.ko's and vmlinux's symbol tables, read with pyelftools):

* every ``.klp.rela.<obj>.<sec>`` is SHT_RELA, flags ``AIo``, sh_link = .symtab,
  sh_info = an SHF_ALLOC, non-init section called ``<sec>``; every relocation in
  it uses a SHN_LIVEPATCH ``.klp.sym.<obj>.<sym>,<pos>`` of the same object;
  names fit the kernel's ``%55[^.]`` / ``%511[^,]`` patterns;
* no undefined symbol is left that vmlinux does not export (Module.symvers);
* relocation records keep their offset, type and addend, and no allocated
  section's bytes change; symbols resolve to the object and position computed
  here from isofs.ko's own symbol table (and from vmlinux for ppc64el);
* ppc64le: each converted ``bl`` (R_PPC64_REL24) is followed by a nop and no
  TOC16* relocation uses a klp symbol; arm64 keeps ``.plt``, ``.init.plt`` and
  ``.text.ftrace_trampoline``; ppc64 keeps ``.stubs``/``.toc``; s390x stays
  big-endian; e_flags (the ppc64 ELFv2 ABI level) are kept; readelf warns about
  nothing.

The three builds, symdbs and conversions run in parallel.  Debian 12's kernels
for these architectures are built without CONFIG_LIVEPATCH, so the modules
cannot load there: this is a conversion check, the qemu proof is tests/e2e/.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from tests.e2e.harness import Built, Kernel, build_module, read_symtab
from tests.realdata.paths import realdata_set
from tests.support.cli import klp
from tests.support.paths import realdata_or_skip, require_realdata
from tests.support.readelf import Readelf, readelf

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

SOURCE = pathlib.Path(__file__).resolve().parent / "xbuild"
SETS = ("arm64", "ppc64el", "s390x")
#: The module the livepatch patches; present in all three images.
TARGET = "isofs"
#: isofs symbols isofs does not export, each defined once in the kernel.
UNIQUE = ("isofs_name_translate", "isofs_bread", "isofs_inode_cachep", "isofs_dir_operations",
          "isofs_sops")
#: Names that other modules (and vmlinux) define too: KLP_MODULE_RELOC(isofs) picks isofs's.
#: ``tokens`` is given as "the N-th copy", ``init_once`` as 0 ("unique in isofs") when
#: isofs has one copy.
ANNOTATED = ("tokens", "init_once")
#: Non-exported vmlinux symbols, used where the symdb knows vmlinux (-DKLP_XBUILD_VMLINUX).
VMLINUX_PRIVATE = ("kallsyms_lookup_name", "max_threads")
#: vmlinux exports the module uses: the module loader resolves them, so they stay as they are.
VMLINUX_EXPORTED = ("kmem_cache_alloc", "kmem_cache_free", "seq_printf", "__brelse", "jiffies")
#: Undefined symbols the module loader resolves itself (arch.md §5.5).
LOADER_SYMBOLS = frozenset({".TOC.", "_mcount", "__fentry__", "_GLOBAL_OFFSET_TABLE_",
                            "ftrace_caller", "ftrace_regs_caller"})
#: Sections the converted module must keep, per set (arch.md §5.5).
KEPT_SECTIONS = {
    "arm64": (".plt", ".init.plt", ".text.ftrace_trampoline"),
    "ppc64el": (".stubs", ".toc"),
    "s390x": (),
}
COMMON_KEPT = (".gnu.linkonce.this_module", ".modinfo", "__versions", ".symtab", ".strtab")
LIVEPATCH_NDX = "OS [0xff20]"  # SHN_LIVEPATCH as readelf prints it
PPC_NOP = 0x60000000
# kernel: kernel/livepatch/core.c parses ".klp.sym.%55[^.].%511[^,],%lu"
KLP_SYM = re.compile(r"\.klp\.sym\.([^.]{1,55})\.([^,]{1,511}),(\d+)")
KLP_RELA_PREFIX = ".klp.rela."

T = TypeVar("T")


# --------------------------------------------------------------------------- readelf views


@dataclass(frozen=True)
class Section:
    index: int
    name: str
    type: str
    offset: int
    size: int
    entsize: int
    flags: str
    link: int
    info: int
    align: int


@dataclass(frozen=True)
class Symbol:
    index: int
    value: int
    size: int
    type: str
    bind: str
    ndx: str
    name: str


@dataclass(frozen=True)
class Reloc:
    section: str  #: the RELA section
    target: str  #: the section it applies to (sh_info)
    offset: int
    type: str
    symbol: Symbol
    addend: int


@dataclass
class Elf:
    """One file as binutils sees it: ``readelf -h`` and ``readelf -SW -sW -rW``."""

    path: pathlib.Path
    header: dict[str, str]
    sections: list[Section]
    symbols: list[Symbol]
    relocs: list[Reloc]
    warnings: list[str]
    data: bytes

    @classmethod
    def read(cls, path: pathlib.Path) -> Elf:
        head = subprocess.run(["readelf", "-hW", str(path)], capture_output=True, text=True,
                              check=True)
        header = {k.strip(): v.strip() for k, _, v in
                  (ln.partition(":") for ln in head.stdout.splitlines()[1:]) if v}
        oracle: Readelf = readelf(str(path))
        sections = [Section(_int(n), _str(name), _str(typ), _int(off), _int(size), _int(es),
                            _str(flg), _int(lk), _int(inf), _int(al))
                    for n, name, typ, _addr, off, size, es, flg, lk, inf, al in oracle.sections]
        symbols = [Symbol(_int(n), _int(value), _int(size), _str(typ), _str(bind), _str(ndx),
                          _str(name))
                   for n, value, size, typ, bind, _vis, ndx, name in oracle.symbols]
        by_name = {s.name: s for s in sections}
        relocs = [Reloc(name, sections[by_name[name].info].name, _int(off), _str(typ),
                        symbols[_int(info) >> 32], _int(addend))
                  for name, rows in oracle.relocs.items()
                  for off, info, typ, _sym, addend in rows]
        warnings = oracle.warnings + [ln for ln in head.stderr.splitlines() if ln.strip()]
        return cls(path, header, sections, symbols, relocs, warnings, path.read_bytes())

    def section(self, name: str) -> Section:
        found = [s for s in self.sections if s.name == name]
        assert len(found) == 1, f"{self.path}: {len(found)} sections named {name!r}"
        return found[0]

    def contents(self, sec: Section) -> bytes:
        return b"" if sec.type == "NOBITS" else self.data[sec.offset:sec.offset + sec.size]

    @property
    def undefined(self) -> set[str]:
        return {s.name for s in self.symbols if s.ndx == "UND" and s.name}


def _int(value: object) -> int:
    assert isinstance(value, int), value
    return value


def _str(value: object) -> str:
    assert isinstance(value, str), value
    return value


def klp_sym_name(sym: Symbol) -> tuple[str, str, int] | None:
    """(object, name, position) of a ``.klp.sym.`` name, or None."""
    m = KLP_SYM.fullmatch(sym.name)
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


# --------------------------------------------------------------------------- building


@dataclass
class XBuild:
    """One set's livepatch, built, converted, and both files as readelf sees them."""

    name: str
    env: dict[str, str]
    expected: dict[str, tuple[str, int]]  #: symbol -> (object, position) from the kernel's files
    also_defined: dict[str, str]  #: annotated name -> another module that defines it
    exports: set[str]  #: what vmlinux exports (Module.symvers)
    built: Built
    symdb: pathlib.Path
    report: dict[str, Any]
    before: Elf
    after: Elf
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def vmlinux(self) -> bool:
        return bool(self.env.get("VMLINUX"))


def headers_kernel(env: dict[str, str]) -> Kernel:
    """A harness Kernel for build_module() and module(); the cross sets have no busybox and
    (but for ppc64el) no vmlinux, which these helpers do not read."""
    def path(key: str) -> pathlib.Path:
        return pathlib.Path(env[key]) if env.get(key) else pathlib.Path(os.devnull)

    return Kernel(env["KVER"], path("VMLINUX"), path("SYSTEM_MAP"), path("MODULES_DIR"),
                  path("KDIR"), path("BUSYBOX"), path("VMLINUZ"), path("CONFIG"))


def missing_tools(env: dict[str, str]) -> list[str]:
    cross = env.get("CROSS_COMPILE", "")
    gcc = shutil.which(f"{cross}gcc-12") or shutil.which(f"{cross}gcc")
    return [t for t, ok in (("make", shutil.which("make")), ("readelf", shutil.which("readelf")),
                            (f"{cross}gcc", gcc)) if not ok]


def vmlinux_exports(symvers: pathlib.Path) -> set[str]:
    """Names Module.symvers lists as exported by vmlinux (crc, name, module, kind[, ns])."""
    found = set()
    for line in symvers.read_text().splitlines():
        cols = line.split("\t")
        if len(cols) >= 4 and cols[2] == "vmlinux":
            found.add(cols[1])
    return found


def positions(kernel: Kernel) -> dict[str, tuple[str, int]]:
    """The object and position of each symbol the livepatch uses, from isofs.ko's symtab.

    A module position counts the module's defined symbols of that name in symbol
    table order (1-based); 0 means "unique in the object".  The livepatch means
    isofs's first copy of each annotated name: ``tokens`` is spelled as position 1,
    ``init_once`` as 0 while isofs has one copy, so both spellings are covered.
    """
    table = read_symtab(kernel.module(TARGET))
    found: dict[str, tuple[str, int]] = {}
    for name in UNIQUE:
        copies = table.defined(name)
        assert len(copies) == 1, f"{name}: {len(copies)} copies in {TARGET}.ko"
        found[name] = (TARGET, 0)
    for name in ANNOTATED:
        copies = table.defined(name)
        assert copies, f"{name} is not defined in {TARGET}.ko"
        found[name] = (TARGET, 1 if name == "tokens" or len(copies) > 1 else 0)
    return found


def other_definers(kernel: Kernel, names: tuple[str, ...]) -> dict[str, str]:
    """For each name, a filesystem module other than isofs that defines it too (the names
    are ambiguous, so the annotation matters); a name without one is left out."""
    found: dict[str, str] = {}
    for ko in sorted((kernel.modules_dir / "kernel" / "fs").rglob("*.ko")):
        if ko.stem == TARGET or len(found) == len(names):
            continue
        raw = ko.read_bytes()  # a cheap filter before reading the symbol table
        todo = [n for n in names if n not in found and n.encode() + b"\0" in raw]
        if todo:
            table = read_symtab(ko)
            found.update((n, ko.stem) for n in todo if table.defined(n))
    return found


def nm_system_map(env: dict[str, str], out: pathlib.Path) -> pathlib.Path:
    """A System.map of the image's vmlinux, as ``nm -n`` and the kernel's rules give it.
    Debian's ppc64el 6.1 has no CONFIG_KALLSYMS_ALL: its own kallsyms table, which
    ``--vmlinux`` follows, lists code only, so its data (max_threads) could not be
    converted; the System.map stands for a build of it with KALLSYMS_ALL."""
    nm = f"{env['CROSS_COMPILE']}nm"
    listing = subprocess.run([nm, "-n", env["VMLINUX"]], capture_output=True, check=True,
                             env={**os.environ, "LC_ALL": "C"}).stdout
    out.write_bytes(b"\n".join(ln for ln in listing.splitlines() if not ln.startswith(b" ")))
    return out


def vmlinux_positions(vmlinux: pathlib.Path) -> dict[str, tuple[str, int]]:
    table = read_symtab(vmlinux)
    for name in VMLINUX_PRIVATE:
        copies = table.defined(name)
        assert len(copies) == 1, f"{name}: {len(copies)} copies in {vmlinux}"
    return dict.fromkeys(VMLINUX_PRIVATE, ("vmlinux", 0))


def timed(seconds: dict[str, float], key: str, fn: Callable[[], T]) -> T:
    t0 = time.monotonic()
    try:
        return fn()
    finally:
        seconds[key] = time.monotonic() - t0


def prepare(name: str, env: dict[str, str], work: pathlib.Path, include: str,
            pool: concurrent.futures.Executor) -> XBuild:
    """Build, scan and convert one set; the slow steps run on ``pool``."""
    kernel = headers_kernel(env)
    seconds: dict[str, float] = {}
    out = work / name
    out.mkdir(parents=True, exist_ok=True)
    symdb = out / "symbols.klp"
    args = ["symdb", "build", "--modules", env["MODULES_DIR"], "--symvers",
            str(kernel.symvers), "-o", str(symdb)]
    if env.get("VMLINUX"):
        args += ["--system-map", str(nm_system_map(env, out / "System.map"))]
    scan = pool.submit(timed, seconds, "symdb", lambda: klp(*args))
    others = pool.submit(other_definers, kernel, ANNOTATED)
    in_vmlinux = (pool.submit(vmlinux_positions, pathlib.Path(env["VMLINUX"]))
                  if env.get("VMLINUX") else None)
    expected = positions(kernel)
    flags = (f"-DKLP_XBUILD_POS_TOKENS={expected['tokens'][1]} "
             f"-DKLP_XBUILD_POS_INIT_ONCE={expected['init_once'][1]}")
    if env.get("VMLINUX"):
        flags += " -DKLP_XBUILD_VMLINUX"
    make_vars = {"ARCH": env["KARCH"], "CROSS_COMPILE": env["CROSS_COMPILE"],
                 "KLP_INCLUDE_DIR": include, "KLP_XBUILD_CFLAGS": flags}
    built = pool.submit(build_module, kernel, SOURCE, out / "build", make_vars).result()
    seconds["make"] = built.seconds
    scan.result()
    if in_vmlinux is not None:
        expected.update(in_vmlinux.result())
    converted = out / "klp-xbuild.ko"
    proc = timed(seconds, "convert", lambda: klp(
        "convert", str(built.ko), "-o", str(converted), "--symdb", str(symdb),
        "--symvers", str(kernel.symvers), "--json"))
    report = json.loads(proc.stdout)
    return XBuild(name, env, expected, others.result(), vmlinux_exports(kernel.symvers),
                  built, symdb, report, Elf.read(built.ko), Elf.read(converted), seconds)


@pytest.fixture(scope="module")
def xbuilds(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, XBuild | BaseException]:
    """Every selected, fetched set, prepared in parallel (a failure is kept per set)."""
    wanted = {getattr(item, "callspec", None) and item.callspec.params.get("xset")  # type: ignore[attr-defined]
              for item in request.session.items}
    envs = {}
    for name in SETS:
        env = realdata_set(name) if name in wanted else None
        if env is not None and not missing_tools(env):
            envs[name] = env
    results: dict[str, XBuild | BaseException] = {}
    if not envs:
        return results
    inc = klp("--include-dir")
    include = inc.stdout.strip()
    assert (pathlib.Path(include) / "klp-reloc.h").is_file(), include
    work = tmp_path_factory.mktemp("xbuild")
    t0 = time.monotonic()
    # sets run in their own threads; their make, symdb and vmlinux jobs share a second pool
    with concurrent.futures.ThreadPoolExecutor(max_workers=3 * len(envs)) as steps, \
            concurrent.futures.ThreadPoolExecutor(max_workers=len(envs)) as sets:
        futures = {name: sets.submit(prepare, name, env, work, include, steps)
                   for name, env in envs.items()}
        for name, fut in futures.items():
            try:
                results[name] = fut.result()
            except Exception as e:  # reported by each test of that set
                results[name] = e
    total = time.monotonic() - t0
    for res in results.values():
        if isinstance(res, XBuild):
            res.seconds["total (all sets)"] = total
    return results


@pytest.fixture(params=SETS)
def xset(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def xb(xset: str, xbuilds: dict[str, XBuild | BaseException]) -> XBuild:
    env = realdata_or_skip(xset)
    missing = missing_tools(env)
    if missing:
        msg = f"cross-building for {xset} needs {', '.join(missing)}"
        if require_realdata():
            pytest.fail(msg)
        pytest.skip(msg)
    result = xbuilds[xset]
    if isinstance(result, BaseException):
        pytest.fail(f"preparing {xset} failed: {type(result).__name__}: {result}")
    return result


# --------------------------------------------------------------------------- the kernel's rules


def klp_sections(elf: Elf) -> list[Section]:
    return [s for s in elf.sections if s.name.startswith(KLP_RELA_PREFIX) or "o" in s.flags]


def rule_violations(xb: XBuild) -> list[str]:
    """Every way the converted module breaks a rule of the kernel's livepatch loader."""
    elf = xb.after
    bad: list[str] = []
    symtabs = [s for s in elf.sections if s.type == "SYMTAB"]
    if len(symtabs) != 1:
        return [f"{len(symtabs)} SHT_SYMTAB sections"]
    symtab = symtabs[0].index
    if len(elf.sections) >= 0xFF00:
        bad.append(f"{len(elf.sections)} sections")
    # locals first, sh_info = the first non-local (binutils, modpost and strip rely on it)
    first_global = symtabs[0].info
    misplaced = [s.name for s in elf.symbols if (s.bind == "LOCAL") != (s.index < first_global)]
    if misplaced:
        bad.append(f"symbols on the wrong side of .symtab's sh_info {first_global}: {misplaced}")
    dangling = [s.name for s in elf.symbols if s.ndx.isdigit() and int(s.ndx) >= len(elf.sections)]
    if dangling:
        bad.append(f"symbols in sections that do not exist: {dangling}")
    for sec in klp_sections(elf):
        where = f"section {sec.name}"
        if sec.type != "RELA" or sec.flags != "AIo" or sec.link != symtab:
            bad.append(f"{where}: type {sec.type}, flags {sec.flags!r}, link {sec.link}"
                       f" (want RELA, 'AIo', {symtab})")
        if sec.entsize != 24 or sec.align != 8 or sec.offset % 8:
            bad.append(f"{where}: entsize {sec.entsize}, align {sec.align}, offset {sec.offset:#x}")
        obj, dot, rest = sec.name.removeprefix(KLP_RELA_PREFIX).partition(".")
        if not dot or not obj or len(obj) > 55:
            bad.append(f"{where}: no object name the kernel can parse")
            continue
        if not 0 < sec.info < len(elf.sections):
            bad.append(f"{where}: sh_info {sec.info} is not a section")
            continue
        target = elf.sections[sec.info]
        if rest != target.name:
            bad.append(f"{where}: names section {rest!r} but sh_info is {target.name}")
        if "A" not in target.flags:
            bad.append(f"{where}: target {target.name} is not SHF_ALLOC")
        if target.name.startswith((".init", ".exit")):
            bad.append(f"{where}: target {target.name} is freed after loading")
    klp_names = {s.name for s in klp_sections(elf)}
    for rel in elf.relocs:
        sym = rel.symbol
        where = f"{rel.section}+{rel.offset:#x} ({rel.type}, {sym.name})"
        parsed = klp_sym_name(sym)
        if rel.section in klp_names:
            obj = rel.section.removeprefix(KLP_RELA_PREFIX).partition(".")[0]
            if parsed is None or parsed[0] != obj:
                bad.append(f"{where}: not a .klp.sym.{obj}.<sym>,<pos> symbol")
            if sym.ndx != LIVEPATCH_NDX:
                bad.append(f"{where}: symbol section {sym.ndx}, not SHN_LIVEPATCH")
        elif sym.ndx == LIVEPATCH_NDX or sym.name.startswith(".klp."):
            bad.append(f"{where}: a klp symbol in a normal relocation section")
        if "TOC16" in rel.type and sym.ndx == LIVEPATCH_NDX:
            bad.append(f"{where}: TOC16 relocation against a klp symbol")
    for sym in elf.symbols:
        if sym.ndx == LIVEPATCH_NDX or sym.name.startswith(".klp.sym."):
            parsed = klp_sym_name(sym)
            if (parsed is None or sym.ndx != LIVEPATCH_NDX or sym.value or sym.size
                    or len(parsed[1].encode()) > 511):
                bad.append(f"symbol {sym.name!r}: ndx {sym.ndx}, value {sym.value}, "
                           f"size {sym.size}")
    leftover = sorted(elf.undefined - xb.exports - LOADER_SYMBOLS)
    if leftover:
        bad.append(f"undefined symbols vmlinux does not export: {leftover}")
    if any(".klp.module_relocs" in s.name for s in elf.sections):
        bad.append("annotation sections left in the output")
    if elf.header.get("Machine") == "PowerPC64":
        bad += ppc64_nop_violations(elf)
    return bad


def ppc64_nop_violations(elf: Elf) -> list[str]:
    """A converted ``bl`` goes through a stub; the loader restores r2 over the next nop
    (kernel: arch/powerpc/kernel/module_64.c, "Expected nop after call")."""
    bad = []
    by_name = {s.name: s for s in elf.sections}
    for rel in elf.relocs:
        if rel.type != "R_PPC64_REL24" or rel.symbol.ndx != LIVEPATCH_NDX:
            continue
        code = elf.contents(by_name[rel.target])
        insn = int.from_bytes(code[rel.offset:rel.offset + 4], "little")
        if insn & 1:  # bl, not b
            after = int.from_bytes(code[rel.offset + 4:rel.offset + 8], "little")
            if after != PPC_NOP:
                bad.append(f"{rel.section}+{rel.offset:#x}: bl {rel.symbol.name} is followed "
                           f"by {after:#010x}, not a nop")
    return bad


def symbol_id(elf: Elf, sym: Symbol) -> str:
    """A symbol's name, or for a section symbol the section's (indices change)."""
    if sym.type == "SECTION" and sym.ndx.isdigit():
        return "section " + elf.sections[int(sym.ndx)].name
    return sym.name


def is_annotation(elf: Elf, rel: Reloc) -> bool:
    """Relocations of, or pointing into, the KLP_MODULE_RELOC sections (removed by convert)."""
    if rel.target.startswith(".klp.module_relocs."):
        return True
    sym = rel.symbol
    return sym.ndx.isdigit() and elf.sections[int(sym.ndx)].name.startswith(".klp.module_relocs.")


def allocated_relocs(elf: Elf) -> dict[tuple[str, int], Reloc]:
    """Relocations that apply to SHF_ALLOC sections, by (target, offset); not the
    annotations'."""
    alloc = {s.name for s in elf.sections if "A" in s.flags}
    rows = [r for r in elf.relocs if r.target in alloc and not is_annotation(elf, r)]
    found = {(r.target, r.offset): r for r in rows}
    assert len(found) == len(rows), f"{elf.path}: two relocations at one offset"
    return found


# --------------------------------------------------------------------------- tests


def _context(xb: XBuild) -> str:
    times = ", ".join(f"{k} {v:.1f}s" for k, v in xb.seconds.items())
    return (f"[{xb.name}: {xb.after.path}; {times}; convert warnings "
            f"{xb.report.get('warnings')}]")


def test_convert_succeeds(xb: XBuild) -> None:
    assert xb.report["status"] == "converted", json.dumps(xb.report, indent=1)
    assert xb.report["problems"] == []
    # the names the module uses really need converting: vmlinux does not export them,
    # and the annotated ones are defined by another module too (ambiguous)
    private = [*UNIQUE, *ANNOTATED, *(VMLINUX_PRIVATE if xb.vmlinux else ())]
    assert not set(private) & xb.exports
    assert set(private) <= xb.before.undefined
    assert set(VMLINUX_EXPORTED) <= xb.exports & xb.before.undefined
    assert set(xb.also_defined) == set(ANNOTATED), xb.also_defined


def test_output_follows_the_kernel_rules(xb: XBuild) -> None:
    assert xb.after.warnings == [], _context(xb)
    assert rule_violations(xb) == [], _context(xb)


def test_symbols_resolve_to_computed_positions(xb: XBuild) -> None:
    """Each non-exported name became one klp symbol with the object and position computed
    from the kernel's own files, for the reason expected (unique or annotated)."""
    klp_syms = {p[1]: (p[0], p[2]) for s in xb.after.symbols if (p := klp_sym_name(s))}
    assert klp_syms == xb.expected, _context(xb)
    reasons = {r["symbol"]: (r["object"], r["position"], r["reason"])
               for r in xb.report["symbols"]}
    want = {n: (*where, "annotation" if n in ANNOTATED else "unique")
            for n, where in xb.expected.items()}
    assert reasons == want


def test_relocations_move_unchanged(xb: XBuild) -> None:
    """Every relocation of an allocated section is still there with its offset, type and
    addend: the converted ones in ``.klp.rela.<obj>.<target>`` against their klp symbol,
    the others (exported vmlinux symbols, local sections) where they were."""
    before, after = xb.before, xb.after
    old, new = allocated_relocs(before), allocated_relocs(after)
    assert new.keys() == old.keys(), _context(xb)
    converted: Counter[str] = Counter()
    for key, was in old.items():
        now = new[key]
        assert (now.type, now.addend) == (was.type, was.addend), (key, was, now)
        if was.symbol.name in xb.expected:
            obj, pos = xb.expected[was.symbol.name]
            assert now.symbol.name == f".klp.sym.{obj}.{was.symbol.name},{pos}", (key, now)
            assert now.section == f"{KLP_RELA_PREFIX}{obj}.{was.target}", (key, now)
            converted[was.symbol.name] += 1
        else:
            assert now.section == was.section, (key, now)
            assert symbol_id(after, now.symbol) == symbol_id(before, was.symbol), (key, now)
    assert set(converted) == set(xb.expected)
    # exported vmlinux symbols: still undefined, used only by normal relocations
    normal = {r.symbol.name for r in after.relocs if not r.section.startswith(KLP_RELA_PREFIX)}
    assert set(VMLINUX_EXPORTED) <= after.undefined & normal
    assert not any(p[1] in VMLINUX_EXPORTED for s in after.symbols if (p := klp_sym_name(s)))


def test_sections_headers_and_bytes_kept(xb: XBuild) -> None:
    """Arch sections stay, allocated bytes are untouched, the header keeps class, byte order,
    machine and e_flags (ppc64 ELFv2 ABI level; s390x big-endian)."""
    before, after = xb.before, xb.after
    names = {s.name for s in after.sections}
    for name in (*COMMON_KEPT, *KEPT_SECTIONS[xb.name]):
        assert name in names, f"{name} is missing {_context(xb)}"
    assert b"livepatch=Y\0" in after.contents(after.section(".modinfo"))
    for key in ("Class", "Data", "Machine", "Flags", "Type"):
        assert after.header[key] == before.header[key], key
    assert ("big endian" in after.header["Data"]) == (xb.name == "s390x")
    if xb.name == "ppc64el":
        assert after.header["Flags"].startswith("0x2"), after.header["Flags"]
    old = {s.name: s for s in before.sections}
    for sec in after.sections:
        if "A" in sec.flags and sec.type not in ("RELA", "NOBITS") and sec.name in old:
            assert after.contents(sec) == before.contents(old[sec.name]), sec.name
    # what the converter should have removed, and what it should have added
    assert not any(s.name.startswith(".klp.module_relocs") for s in after.sections)
    assert any(s.name.startswith(".klp.module_relocs.") for s in before.sections)
    klp_secs = {s.name for s in klp_sections(after)}
    want = {f"{KLP_RELA_PREFIX}{TARGET}..text"}
    if xb.vmlinux:
        want.add(f"{KLP_RELA_PREFIX}vmlinux..text")
    assert want <= klp_secs, klp_secs


def test_second_conversion_changes_nothing(xb: XBuild, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "again.ko"
    proc = klp("convert", str(xb.after.path), "-o", str(out), "--symdb", str(xb.symdb),
               "--symvers", str(headers_kernel(xb.env).symvers), "--json")
    assert json.loads(proc.stdout)["status"] == "already-converted"
    assert out.read_bytes() == xb.after.data
