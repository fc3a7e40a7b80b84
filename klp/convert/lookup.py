"""The converter's view of a symbols.klp file."""

from __future__ import annotations

from klp.elfcodec.constants import SHN
from klp.elfcodec.elffile import ElfFile
from klp.symdb.format import SymbolDB
from klp.symdb.scan import modinfo


class DbLookup(SymbolDB):
    """A SymbolDB that also answers questions about the module being converted."""

    def module_vmlinux_exports(self, elf: ElfFile) -> set[str]:
        table = elf.symtab
        undefined = {table.name(i) for i in range(1, len(table))
                     if table.rows[i][3] == SHN.UNDEF}
        return self.vmlinux_exports(undefined)

    def staleness(self, elf: ElfFile) -> str | None:
        """Why this database does not describe the kernel the module was built for."""
        if self.arch and self.arch != elf.arch.name:
            return f"{self.path} is for {self.arch}, the module for {elf.arch.name}"
        module = modinfo(elf).get("vermagic", "").strip()
        if not module:
            return None
        if self.vermagic:
            if self.vermagic.strip() != module:
                return (f"{self.path} was built for vermagic {self.vermagic.strip()!r}, "
                        f"the module has {module!r}")
        elif self.kernel_release and self.kernel_release != module.split()[0]:
            return (f"{self.path} was built for kernel {self.kernel_release}, the module "
                    f"for {module.split()[0]}")
        return None


def open_lookup(path: str) -> DbLookup:
    return DbLookup(path)
