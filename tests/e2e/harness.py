"""Helpers for the real-kernel end-to-end test: build, initramfs, qemu boot, console parsing.

One harness for every architecture a kernel can run here: :data:`MACHINES`
says how qemu (TCG, no KVM) runs x86_64, ppc64le, s390x and arm64, and a
:class:`Kernel` names its architecture, cross compiler and boot image.

The guest is a busybox initramfs whose ``/init`` this module writes from a
:class:`GuestPlan`.  Every line the guest reports starts with ``KLP: `` so that
the host can pick it out of the serial console:

``KLP: insmod FILE rc=N``           an insmod step and its exit status
``KLP: out TAG TEXT``               one output line of a ``run`` step
``KLP: rc TAG N``                   the exit status of a ``run`` step
``KLP: livepatch NAME enabled=E transition=T``  /sys/kernel/livepatch at the end
``KLP: kallsyms ADDR TYPE NAME [MODULE]``       selected /proc/kallsyms lines
``KLP: dmesg TEXT``                 the kernel log, dumped at the end
``KLP: done``                       /init finished (then it powers off)

The kernel log is read with ``dmesg`` rather than from the console because
``quiet`` hides the messages below KERN_WARNING from the console.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

BOOT_TIMEOUT = 180.0
PREFIX = "KLP: "


class HarnessError(RuntimeError):
    """A step of the rig failed (build, initramfs, boot); the message carries the log."""


@dataclass(frozen=True)
class Machine:
    """How qemu runs one architecture's kernel under TCG, and what kbuild calls it."""

    arch: str
    karch: str  #: the kernel's ARCH
    cross_compile: str  #: Debian's cross toolchain prefix on an amd64 host
    qemu: str
    options: tuple[str, ...]  #: machine and CPU model
    console: str
    memory_mb: int


#: Debian's own kernels, by test id: the realdata set (tests/realdata/fetch.sh) of each,
#: the 6.1 cloud-amd64 kernel and the 6.12 backport's (modules as .ko.xz).
DEBIAN = {"debian": "cloud-amd64", "debian-6.12": "amd64-xz"}
#: The kernels, by test id: Debian's, and the tiny kernels, by architecture
#: (``-bpo``: built from trixie-backports' 7.x source, as arm64's is; ``-6.12``: from
#: Debian's linux-source-6.12).
KERNELS = (*DEBIAN, "x86_64", "ppc64le", "s390x", "arm64", "x86_64-bpo", "x86_64-6.12")

#: qemu's default x86 CPU boots about 0.4 s faster than ``-cpu max`` under TCG
#: (2.2-2.5 s against 2.4-3.4 s wall, measured).  pseries enters the kernel
#: through qemu's own firmware (``x-vof=on``: 3 s to the end of a test, 10 s
#: through SLOF); power8 is the CPU the kernel is built for (TARGET_CPU).
#: s390x's ``qemu`` CPU model has the facilities of the kernel's machine level.
#: arm64's ``max`` CPU has pointer authentication; its architected algorithm is
#: slow under TCG, ``pauth-impdef`` is qemu's cheap one.
MACHINES = {
    "x86_64": Machine("x86_64", "x86", "", "qemu-system-x86_64", (), "ttyS0", 512),
    "ppc64le": Machine("ppc64le", "powerpc", "powerpc64le-linux-gnu-", "qemu-system-ppc64",
                       ("-M", "pseries,x-vof=on", "-cpu", "power8", "-vga", "none"), "hvc0", 1024),
    "s390x": Machine("s390x", "s390", "s390x-linux-gnu-", "qemu-system-s390x",
                     ("-M", "s390-ccw-virtio", "-cpu", "qemu"), "ttysclp0", 512),
    "arm64": Machine("arm64", "arm64", "aarch64-linux-gnu-", "qemu-system-aarch64",
                     ("-M", "virt", "-cpu", "max,pauth-impdef=on"), "ttyAMA0", 512),
}


def machine_of(kernel: str) -> Machine:
    """The machine a tiny kernel's id (a KERNELS entry not in DEBIAN) runs on."""
    return MACHINES[kernel.split("-", 1)[0]]


# --------------------------------------------------------------------------- kernel


@dataclass(frozen=True)
class Kernel:
    """The files of one kernel: a fetched distribution kernel (tests/realdata/fetch.sh
    ``env``) or a tree of tests/e2e/kernel/build-kernel.sh.

    ``modules_dir`` holds its modules (``lib/modules/<release>`` or the tree),
    ``kdir`` is what external modules build against (the headers or the tree),
    ``image`` is what qemu boots.
    """

    kver: str
    vmlinux: Path
    system_map: Path
    modules_dir: Path
    kdir: Path
    busybox: Path
    image: Path
    config: Path
    arch: str = "x86_64"
    cross_compile: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Kernel:
        """Build from a realdata ``env`` mapping (an x86_64 set); every path must be set."""
        keys = ("VMLINUX", "SYSTEM_MAP", "MODULES_DIR", "KDIR", "BUSYBOX", "VMLINUZ", "CONFIG")
        missing = [k for k in ("KVER", *keys) if not env.get(k)]
        if missing:
            raise HarnessError(f"realdata env lacks {', '.join(missing)}")
        p = {k: Path(env[k]) for k in keys}
        return cls(env["KVER"], p["VMLINUX"], p["SYSTEM_MAP"], p["MODULES_DIR"], p["KDIR"],
                   p["BUSYBOX"], p["VMLINUZ"], p["CONFIG"])

    @property
    def machine(self) -> Machine:
        return MACHINES[self.arch]

    @property
    def symvers(self) -> Path:
        """Module.symvers of the headers package or tree: what vmlinux and modules export."""
        return self.kdir / "Module.symvers"

    @property
    def make_vars(self) -> dict[str, str]:
        """kbuild's ARCH and CROSS_COMPILE for a cross-built kernel (none for a native one)."""
        if not self.cross_compile:
            return {}
        return {"ARCH": self.machine.karch, "CROSS_COMPILE": self.cross_compile}

    def config_has(self, option: str) -> bool:
        """``CONFIG_<option>`` is y or m in the kernel's config."""
        want = (f"CONFIG_{option}=y", f"CONFIG_{option}=m")
        return any(line in want for line in self.config.read_text().splitlines())

    def module(self, name: str) -> Path:
        """The kernel's own ``NAME.ko``, from its modules.order (``-`` and ``_`` are the
        same; a build tree lists ``path/NAME.o`` from 6.2 on)."""
        want = name.replace("-", "_")
        for rel in (self.modules_dir / "modules.order").read_text().split():
            if Path(rel).stem.replace("-", "_") == want:
                ko = self.modules_dir / Path(rel).with_suffix(".ko")
                packed = [ko.with_name(ko.name + s) for s in (".xz", ".zst", ".gz")]
                found = next((p for p in packed if p.is_file()), None)
                return ko if ko.is_file() or found is None else _plain_copy(found, self.kver)
        raise HarnessError(f"{name}.ko is not in {self.modules_dir}/modules.order")

    def append(self, *, kaslr: bool = False) -> str:
        """The kernel command line: its console, panic=-1 (with qemu's -no-reboot a panic
        ends the boot), quiet, and ``nokaslr`` unless ``kaslr`` (so /proc/kallsyms
        equals System.map on kernels that randomise)."""
        return f"console={self.machine.console} panic=-1 {'' if kaslr else 'nokaslr '}quiet"


def system_map(path: Path, names: Iterable[str] | None = None) -> dict[str, list[int]]:
    """Addresses of each name in System.map, in file (= address = kallsyms) order."""
    wanted = set(names) if names is not None else None
    found: dict[str, list[int]] = defaultdict(list)
    with path.open() as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and (wanted is None or parts[2] in wanted):
                found[parts[2]].append(int(parts[0], 16))
    return dict(found)


@dataclass(frozen=True)
class LocalSymbol:
    """A local symbol of an ELF file, with the source file its ``FILE`` symbol names."""

    file: str
    name: str
    address: int


def local_symbols(elf: Path, names: Iterable[str]) -> list[LocalSymbol]:
    """Defined local symbols called one of ``names``, in ``.symtab`` order (``readelf -sW``).

    Local symbols follow the ``FILE`` symbol of their translation unit, so this
    tells apart statics of the same name: an oracle independent of klp.  File
    names are basenames, so two files can share one.
    """
    wanted = set(names)
    out = subprocess.run(["readelf", "-sW", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    found = []
    current = ""
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 8 or not parts[0].endswith(":"):
            continue
        # ppc64 ELFv2 functions carry "[<localentry>: 8]" between Vis and Ndx
        value, kind, bind, ndx, name = parts[1], parts[3], parts[4], parts[-2], parts[-1]
        if kind == "FILE":
            current = name
        elif bind == "LOCAL" and name in wanted and ndx not in ("UND", "ABS"):
            found.append(LocalSymbol(current, name, int(value, 16)))
    return found


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class Built:
    """An external module built against the headers package."""

    ko: Path
    log: str
    seconds: float


def build_modules(kernel: Kernel, src: Path, out: Path,
                  make_vars: Mapping[str, str] | None = None, timeout: float = 600) -> list[Built]:
    """Copy ``src`` (a folder with Kbuild + .c) to ``out`` and build it with kbuild.

    Runs ``make -C KDIR M=out KBUILD_MODPOST_WARN=1 modules VAR=value...`` (with
    the kernel's ARCH and CROSS_COMPILE when it is cross-built); the
    modpost flag turns "undefined symbol" errors (non-exported symbols, the
    whole point of these modules) into warnings.  Returns every ``.ko`` it made.
    """
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(src, out)
    cmd = ["make", "-C", str(kernel.kdir), f"M={out}", "KBUILD_MODPOST_WARN=1", "modules"]
    cmd += [f"{k}={v}" for k, v in {**kernel.make_vars, **(make_vars or {})}.items()]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.monotonic() - t0
    log = f"$ {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}"
    (out / "build.log").write_text(log)
    kos = sorted(out.glob("*.ko"))
    if proc.returncode != 0 or not kos:
        raise HarnessError(f"building {src.name} failed (rc={proc.returncode}):\n{log[-4000:]}")
    return [Built(ko, log, seconds) for ko in kos]


def build_module(kernel: Kernel, src: Path, out: Path,
                 make_vars: Mapping[str, str] | None = None, timeout: float = 600) -> Built:
    """:func:`build_modules` of a folder that makes one module: that ``.ko``."""
    built = build_modules(kernel, src, out, make_vars, timeout)
    if len(built) != 1:
        raise HarnessError(f"{src.name} made {len(built)} modules:\n{built[0].log[-4000:]}")
    return built[0]


@dataclass(frozen=True)
class ElfSymbol:
    """One ``.symtab`` entry (``shndx`` is a number or a name such as ``SHN_UNDEF``)."""

    name: str
    value: int
    shndx: int | str
    name_offset: int


@dataclass(frozen=True)
class ElfSymtab:
    """The symbol table of an ELF file (read with pyelftools, independent of klp)."""

    symbols: list[ElfSymbol]
    strtab_offset: int
    sections: list[str]

    def defined(self, name: str) -> list[ElfSymbol]:
        """Defined symbols called ``name``, in symbol table order."""
        return [s for s in self.symbols if s.name == name and s.shndx != "SHN_UNDEF"]


def _plain_copy(packed: Path, kver: str) -> Path:
    """A compressed module (Debian's 6.12 installs ``.ko.xz``) decompressed once into a
    cache of plain ``.ko`` files, so readelf can read it and busybox's insmod load it."""
    out = Path(tempfile.gettempdir()) / "klp-e2e-plain" / kver / packed.with_suffix("").name
    if out.is_file():
        return out
    if packed.suffix == ".xz":
        data = lzma.decompress(packed.read_bytes())
    elif packed.suffix == ".gz":
        data = gzip.decompress(packed.read_bytes())
    else:
        data = subprocess.run(["zstd", "-dcq", "--", str(packed)], capture_output=True,
                              check=True).stdout
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


def read_symtab(path: Path) -> ElfSymtab:
    """Read ``.symtab``, its string table's file offset and the section names."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with path.open("rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise HarnessError(f"{path}: no .symtab")
        strtab = elf.get_section(symtab["sh_link"])
        symbols = [ElfSymbol(s.name, s["st_value"], s["st_shndx"], s["st_name"])
                   for s in symtab.iter_symbols()]
        return ElfSymtab(symbols, strtab["sh_offset"], [s.name for s in elf.iter_sections()])


def relocation_symbols(path: Path) -> dict[str, set[str]]:
    """Names of the symbols that each relocation section's entries use, by section name."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection

    with path.open("rb") as f:
        elf = ELFFile(f)
        found: dict[str, set[str]] = {}
        for sec in elf.iter_sections():
            if isinstance(sec, RelocationSection):
                symtab = elf.get_section(sec["sh_link"])
                found[sec.name] = {symtab.get_symbol(r["r_info_sym"]).name
                                   for r in sec.iter_relocations()}
        return found


def rename_klp_symbol(src: Path, dst: Path, old: str, new: str) -> None:
    """Copy ``src`` to ``dst`` with the symbol name ``old`` changed to ``new`` in place.

    Used to make a converted module that names a wrong position, e.g.
    ``.klp.sym.vmlinux.s_next,3`` -> ``,0``, without going through ``klp
    convert`` (which refuses wrong positions).  ``new`` may not be longer than
    ``old``; a shorter position is padded with leading zeros, which the
    kernel's ``%lu`` parses to the same number.
    """
    if len(new) > len(old):
        raise HarnessError(f"{new!r} is longer than {old!r}")
    head, sep, pos = new.rpartition(",")
    if sep and pos.isdigit():
        new = f"{head},{pos.zfill(len(old) - len(head) - 1)}"
    new = new.ljust(len(old), "\0")
    table = read_symtab(src)
    hits = [s for s in table.symbols if s.name == old]
    if len(hits) != 1:
        raise HarnessError(f"{src}: {len(hits)} symbols named {old!r}")
    at = table.strtab_offset + hits[0].name_offset
    data = bytearray(src.read_bytes())
    if data[at:at + len(old) + 1] != old.encode() + b"\0":
        raise HarnessError(f"{src}: {old!r} not at string table offset {at:#x}")
    data[at:at + len(old)] = new.encode()
    dst.write_bytes(bytes(data))


# --------------------------------------------------------------------------- initramfs


def _newc(name: str, mode: int, data: bytes = b"", ino: int = 0, rdev: tuple[int, int] = (0, 0),
          nlink: int = 1) -> bytes:
    """One entry of a "newc" (SVR4, no CRC) cpio archive."""
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
    head = b"070701" + b"".join(b"%08X" % v for v in fields) + encoded
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def write_initramfs(out: Path, files: Mapping[str, bytes | Path], *,
                    executables: Iterable[str] = (), symlinks: Mapping[str, str] | None = None,
                    dirs: Iterable[str] = ()) -> Path:
    """Write a gzip'd newc cpio: directories, regular files, symlinks and /dev/console.

    ``files`` maps guest paths (no leading ``/``) to contents or host files;
    ``executables`` get mode 0755 (others 0644).  Parent folders are added.
    """
    exe = set(executables)
    links = dict(symlinks or {})
    folders = {"dev", *dirs}
    for path in (*files, *links):
        parts = path.split("/")[:-1]
        folders.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    buf = io.BytesIO()
    ino = 1
    for d in sorted(folders):
        buf.write(_newc(d, 0o040755, ino=ino, nlink=2))
        ino += 1
    buf.write(_newc("dev/console", 0o020600, ino=ino, rdev=(5, 1)))
    ino += 1
    for path, content in sorted(files.items()):
        data = content.read_bytes() if isinstance(content, Path) else content
        buf.write(_newc(path, 0o100755 if path in exe else 0o100644, data, ino=ino))
        ino += 1
    for path, target in sorted(links.items()):
        buf.write(_newc(path, 0o120777, target.encode(), ino=ino))
        ino += 1
    buf.write(_newc("TRAILER!!!", 0))
    out.write_bytes(gzip.compress(buf.getvalue(), compresslevel=6, mtime=0))
    return out


_INIT_HEAD = r"""#!/bin/busybox sh
# /init written by tests/e2e/harness.py: run the plan, report "KLP: " lines, reboot.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
klp() { echo "KLP: $*"; }
klp_wait() {  # until no livepatch is in transition (at most ~30 s)
  i=0
  while [ $i -lt 300 ]; do
    busy=0
    for t in /sys/kernel/livepatch/*/transition; do
      [ -f "$t" ] && [ "$(cat "$t")" = 1 ] && busy=1
    done
    [ $busy = 0 ] && return 0
    usleep 100000; i=$((i + 1))
  done
  klp "transition-timeout"
}
klp_insmod() {
  insmod "/modules/$1" > /tmp/insmod.out 2>&1
  rc=$?
  sed 's/^/KLP: out insmod:'"$1"' /' /tmp/insmod.out
  klp "insmod $1 rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
  klp_wait
}
klp_run() {  # TAG COMMAND
  tag=$1; shift
  sh -c "$*" > /tmp/run.out 2>&1
  rc=$?
  sed 's/^/KLP: out '"$tag"' /' /tmp/run.out
  klp "rc $tag $rc"
}
mkdir -p /tmp
klp "start uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)"
"""

_INIT_TAIL = r"""
for d in /sys/kernel/livepatch/*; do
  [ -d "$d" ] || continue
  klp "livepatch ${d##*/} enabled=$(cat "$d/enabled") transition=$(cat "$d/transition")"
done
KLP_KALLSYMS
dmesg | sed 's/^/KLP: dmesg /'
klp "done uptime=$(cut -d' ' -f1 /proc/uptime)"
# qemu runs with -no-reboot: a reboot ends it on every machine, with or without ACPI
reboot -f
"""


@dataclass
class GuestPlan:
    """What the guest's /init does, in order: module loads and shell commands."""

    steps: list[str] = field(default_factory=list)
    modules: dict[str, Path] = field(default_factory=dict)
    kallsyms_names: list[str] = field(default_factory=list)

    def insmod(self, ko: Path, name: str | None = None) -> str:
        """Load a module (a host file, stored as ``/modules/NAME``); returns NAME."""
        name = name or ko.name
        if self.modules.setdefault(name, ko) != ko:
            raise HarnessError(f"two different files named {name}")
        self.steps.append(f"klp_insmod {shlex.quote(name)}")
        return name

    def run(self, tag: str, command: str) -> None:
        """Run a shell command; its output lines become ``KLP: out TAG ...``."""
        if not re.fullmatch(r"[\w:.-]+", tag):
            raise HarnessError(f"bad tag {tag!r}")
        self.steps.append(f"klp_run {tag} {shlex.quote(command)}")

    def kallsyms(self, *names: str) -> None:
        """Report these names' /proc/kallsyms lines (vmlinux and modules) at the end."""
        self.kallsyms_names += [n for n in names if n not in self.kallsyms_names]

    def init_script(self) -> str:
        """The /init shell script."""
        ks = ""
        if self.kallsyms_names:
            # fixed-string word match: 0.5 s under TCG, against 1.3 s for an -E
            # alternation; BootResult.kallsyms keeps only exact names
            words = " ".join(f"-e {shlex.quote(n)}" for n in self.kallsyms_names)
            ks = f"grep -wF {words} /proc/kallsyms | sed 's/^/KLP: kallsyms /'"
        tail = _INIT_TAIL.replace("KLP_KALLSYMS", ks)
        return _INIT_HEAD + "\n".join(self.steps) + "\n" + tail

    def write(self, kernel: Kernel, out: Path) -> Path:
        """Write the initramfs (busybox, /init, the modules)."""
        files: dict[str, bytes | Path] = {"init": self.init_script().encode(),
                                          "bin/busybox": kernel.busybox}
        files.update({f"modules/{n}": p for n, p in self.modules.items()})
        return write_initramfs(out, files, executables=("init", "bin/busybox"),
                               symlinks={"bin/sh": "busybox"},
                               dirs=("proc", "sys", "tmp", "mnt", "modules"))


# --------------------------------------------------------------------------- boot + result


@dataclass(frozen=True)
class KallsymsEntry:
    """One /proc/kallsyms line."""

    address: int
    type: str
    name: str
    module: str | None


@dataclass
class BootResult:
    """The console of one boot and what the guest reported."""

    name: str
    console: str
    seconds: float
    returncode: int | None
    timed_out: bool
    log: Path | None = None
    lines: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.lines = [ln[ln.index(PREFIX) + len(PREFIX):] for ln in self.console.splitlines()
                      if PREFIX in ln]

    def _with(self, key: str) -> list[str]:
        head = key + " "
        return [ln[len(head):] for ln in self.lines if ln.startswith(head)]

    @property
    def completed(self) -> bool:
        """/init ran to its end."""
        return any(ln == "done" or ln.startswith("done ") for ln in self.lines)

    def insmod_rc(self, name: str) -> list[int]:
        """Exit statuses of every ``insmod NAME`` step, in order."""
        out = []
        for rest in self._with("insmod"):
            fname, _, tail = rest.partition(" ")
            m = re.match(r"rc=(\d+)", tail)
            if fname == name and m:
                out.append(int(m.group(1)))
        return out

    def out(self, tag: str) -> list[str]:
        """Output lines of the ``run`` (or ``insmod:FILE``) step TAG."""
        return self._with(f"out {tag}")

    def rc(self, tag: str) -> int | None:
        """Exit status of the ``run`` step TAG."""
        vals = self._with(f"rc {tag}")
        return int(vals[-1]) if vals else None

    @property
    def dmesg(self) -> list[str]:
        """The guest's kernel log (dumped at the end of /init)."""
        return self._with("dmesg")

    def dmesg_has(self, pattern: str) -> list[str]:
        """Kernel log lines matching a regular expression."""
        rx = re.compile(pattern)
        return [ln for ln in self.dmesg if rx.search(ln)]

    @property
    def livepatches(self) -> dict[str, dict[str, str]]:
        """/sys/kernel/livepatch/NAME/{enabled,transition} at the end."""
        found: dict[str, dict[str, str]] = {}
        for rest in self._with("livepatch"):
            name, *kv = rest.split()
            found[name] = dict(item.split("=", 1) for item in kv if "=" in item)
        return found

    @property
    def kallsyms(self) -> list[KallsymsEntry]:
        """The /proc/kallsyms lines the plan asked for, in kallsyms order."""
        found = []
        for rest in self._with("kallsyms"):
            parts = rest.split()
            if len(parts) >= 3:
                mod = parts[3].strip("[]") if len(parts) > 3 else None
                found.append(KallsymsEntry(int(parts[0], 16), parts[1], parts[2], mod))
        return found

    def addresses(self, name: str, module: str | None = None) -> list[int]:
        """Addresses of NAME in /proc/kallsyms (vmlinux when ``module`` is None)."""
        return [e.address for e in self.kallsyms if e.name == name and e.module == module]

    def report(self, limit: int = 120) -> str:
        """The guest's KLP lines (last ``limit``), for assertion messages."""
        shown = self.lines[-limit:]
        where = f" (console log: {self.log})" if self.log else ""
        state = "timed out" if self.timed_out else f"rc={self.returncode}"
        return (f"--- boot {self.name}: {self.seconds:.1f}s, qemu {state}{where}\n"
                + "\n".join(shown))


def boot(kernel: Kernel, initrd: Path, *, name: str, append: str | None = None,
         timeout: float = BOOT_TIMEOUT, log: Path | None = None) -> BootResult:
    """Boot the kernel with ``initrd`` under qemu TCG; the serial console is the result.

    qemu exits when /init reboots or the kernel panics (``panic=-1`` with
    ``-no-reboot``); after ``timeout`` seconds it is killed.  ``append``
    defaults to :meth:`Kernel.append`.
    """
    machine = kernel.machine
    cmd = [machine.qemu, "-accel", "tcg", *machine.options, "-smp", "1",
           "-m", str(machine.memory_mb), "-nographic", "-no-reboot", "-nic", "none",
           "-kernel", str(kernel.image), "-initrd", str(initrd),
           "-append", kernel.append() if append is None else append]
    t0 = time.monotonic()
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, start_new_session=True) as proc:
        timed_out = False
        try:
            raw, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, 9)
            raw, _ = proc.communicate()
    seconds = time.monotonic() - t0
    console = raw.decode("utf-8", "replace").replace("\r", "")
    if log is not None:
        state = "timed out" if timed_out else f"rc={proc.returncode}"
        log.write_text(f"$ {shlex.join(cmd)}\n{console}\n# qemu {state}, {seconds:.2f} s\n")
    return BootResult(name, console, seconds, None if timed_out else proc.returncode,
                      timed_out, log)


def boot_plan(kernel: Kernel, plan: GuestPlan, workdir: Path, name: str,
              append: str | None = None, timeout: float = BOOT_TIMEOUT) -> BootResult:
    """Write the plan's initramfs under ``workdir`` and boot it (log: ``NAME.log``)."""
    initrd = plan.write(kernel, workdir / f"{name}.initrd.gz")
    return boot(kernel, initrd, name=name, append=append, timeout=timeout,
                log=workdir / f"{name}.log")


# --------------------------------------------------------------------------- parsing helpers


def fields(line: str) -> dict[str, str]:
    """``key=value`` and ``key@address`` words of a report line (``@`` keys get ``@``)."""
    found: dict[str, str] = {}
    for word in line.split():
        if "@" in word:
            k, _, v = word.partition("@")
            found[k + "@"] = v
        elif "=" in word:
            k, _, v = word.partition("=")
            found.setdefault(k, v)
    return found


def hexaddr(value: int) -> str:
    """An address as the kernel's %px prints it on 64-bit."""
    return f"{value:016x}"
