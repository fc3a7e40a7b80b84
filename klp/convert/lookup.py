"""The converter's view of a symbols.klp file."""

from __future__ import annotations

from klp.elfcodec.constants import SHN
from klp.elfcodec.elffile import ElfFile
from klp.symdb.format import SymbolDB


class DbLookup(SymbolDB):
    """A SymbolDB that also answers which of a module's undefined names vmlinux exports."""

    def module_vmlinux_exports(self, elf: ElfFile) -> set[str]:
        table = elf.symtab
        undefined = {table.name(i) for i in range(1, len(table))
                     if table.rows[i][3] == SHN.UNDEF}
        return self.vmlinux_exports(undefined)


def open_lookup(path: str) -> DbLookup:
    return DbLookup(path)
