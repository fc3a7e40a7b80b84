"""The converter's view of a symbols.klp file."""

from __future__ import annotations

from typing import NamedTuple

from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.kmod import modinfo
from klp.livepatch import rules
from klp.symdb.format import SymbolDB
from klp.symdb.kallsyms_table import CODE_ONLY_KEY, CODE_ONLY_MEANS
from klp.symdb.model import Dialect


class KernelCheck(NamedTuple):
    """Whether a symbol database describes the kernel a module was built for."""

    stale: str | None  #: why it does not (exit 5 unless --force)
    notes: list[str]  #: what could not be checked
    remedy: str = "rebuild it, or pass --force"  #: what to do about ``stale``


class DbLookup(SymbolDB):
    """A SymbolDB that also answers questions about the module being converted."""

    def module_vmlinux_exports(self, elf: ElfFile) -> set[str]:
        return self.vmlinux_exports(elf.symtab.undefined_names())

    @property
    def records_exports(self) -> bool:
        """Whether the database says what each object exports: klp's format does, from
        Module.symvers or the objects' ksymtab entries (System.map lists them too);
        the klp-convert-0.1 format does not. vmlinux must be among its objects."""
        return self.format == Dialect.KLP and self.has_object("vmlinux")

    def check_kernel(self, elf: ElfFile, vmlinux_exports: set[str] | None) -> KernelCheck:
        """Compare the database's kernel identity (architecture, vermagic, release)
        with the module's; where the database records none (the klp-convert-0.1
        format), check that vmlinux has what the module needs from it instead."""
        stale, notes = None, []
        module = modinfo(elf).get("vermagic", "").strip()
        if self.arch and self.arch != elf.arch.name:
            stale = f"{self.path} is for {self.arch}, the module for {elf.arch.name}"
        elif module and self.vermagic:
            if self.vermagic.strip() != module:
                stale = (f"{self.path} was built for vermagic {self.vermagic.strip()!r}, "
                         f"the module has {module!r}")
        elif module and self.kernel_release:
            if self.kernel_release != module.split()[0]:
                stale = (f"{self.path} was built for kernel {self.kernel_release}, the "
                         f"module for {module.split()[0]}")
        elif self.has_object("vmlinux"):
            if self.format != Dialect.KLP:
                notes.append(
                    f"{self.path} is in the {self.format} format, which records no kernel "
                    "identity (architecture, vermagic), so klp checked only that its vmlinux "
                    "defines what the module needs from vmlinux; rebuild it with klp symdb "
                    "build (the default format) for the full check")
            stale = self._missing_needs(elf, vmlinux_exports)
        if stale is None and (stale := self.no_livepatch()):
            return KernelCheck(stale, notes, "or pass --force")
        return KernelCheck(stale, notes)

    def no_livepatch(self) -> str | None:
        """Why the kernel the database describes cannot load any livepatch, if it
        cannot: its vmlinux's kallsyms lists code only. vmlinux is the first object, so
        this reads one object's lines, not the list of every object (5 ms on a distro
        database, at every convert)."""
        try:
            if not self.object_meta("vmlinux").get(CODE_ONLY_KEY):
                return None
        except KeyError:  # a database of modules alone
            return None
        return (f"{self.path}: {CODE_ONLY_MEANS}; build the patch for a kernel with "
                "CONFIG_LIVEPATCH")

    def _missing_needs(self, elf: ElfFile, vmlinux_exports: set[str] | None) -> str | None:
        """Why vmlinux cannot be the module's: a name the module needs from it (an
        architecture's ftrace hook or thunk, an export listed in Module.symvers) is
        missing, or none of the module's undefined names is known at all."""
        undefined = {n for n in elf.symtab.undefined_names()
                     if not rules.LINKER_PROVIDED.fullmatch(n)}
        if not undefined:
            return None
        found = self.lookup(sorted(undefined))
        needed = sorted(n for n in undefined if rules.KERNEL_PROVIDED.fullmatch(n)
                        or (vmlinux_exports is not None and n in vmlinux_exports))
        missing = [n for n in needed if all(r.obj != "vmlinux" for r in found.get(n, ()))]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            return (f"{self.path}: its vmlinux has no {missing[0]}{more}, which the module "
                    "needs from vmlinux: the database describes another kernel or "
                    "architecture")
        if not found:
            return (f"{self.path} knows none of the {len(undefined)} names the module uses: "
                    "it describes another kernel or architecture")
        return None


def open_lookup(path: str) -> DbLookup:
    return DbLookup(path)
