"""The record the symbol database hands out: one definition of a name in one object.

Plain data with no heavy imports, so the converter and ``klp symdb query`` can
use it without loading the scanner.
"""

from __future__ import annotations

from dataclasses import dataclass

#: kbuild's ksymtab entry: ``__ksymtab_<name>`` marks ``<name>`` as exported; it sits
#: in ``__ksymtab`` (EXPORT_SYMBOL) or ``__ksymtab_gpl`` (EXPORT_SYMBOL_GPL).
KSYMTAB_PREFIX = b"__ksymtab_"


@dataclass(frozen=True, slots=True)
class SymbolRecord:
    """One symbol the running kernel keeps, with its position as the kernel counts it."""

    name: str
    obj: str  #: ``vmlinux`` or the module name the kernel uses
    pos: int  #: 1-based rank among same-named symbols of ``obj`` (kallsyms order)
    count: int  #: how many symbols of ``obj`` have this name
    letter: str  #: the type letter /proc/kallsyms shows (nm's, for vmlinux)
    type: str  #: FUNC, OBJECT, NOTYPE, TLS, IFUNC...; "?" when unknown (System.map)
    bind: str  #: LOCAL, GLOBAL, WEAK...; "?" when unknown
    size: int | None
    section: str  #: "" when unknown (System.map)
    value: int | None  #: vmlinux: link-time address; module: offset in ``section``
    file: str  #: the nearest preceding STT_FILE ("" for globals)
    exported: bool  #: ``obj`` exports this name (Module.symvers or a ksymtab entry)
    #: Modules: position and count over the module's *full* symtab, which is what
    #: the kernel walks when the module loads after the livepatch. Equal to
    #: pos/count for vmlinux and for names no init or non-kept symbol shares.
    late_pos: int
    late_count: int

    @property
    def unique(self) -> bool:
        """Position 0 ("the only one") is valid for this name in this object."""
        return self.count == 1

    @property
    def load_order_safe(self) -> bool:
        """The same position finds this symbol whether the module loads before or
        after the livepatch."""
        return self.pos == self.late_pos and self.count == self.late_count

    @property
    def sympos(self) -> int | None:
        """The KLP_SYMPOS that names this symbol in every load order: 0 when unique,
        else its position; None when no single position works (then the livepatch
        must not reference it, or must control the load order)."""
        if self.count == 1 and self.late_count == 1:
            return 0
        if self.pos == self.late_pos:
            return self.pos
        return None

    @property
    def address(self) -> str:
        """vmlinux: the address as System.map prints it; a module: ``section+0xoffset``."""
        if self.value is None:
            return "?"
        if self.obj == "vmlinux":
            return f"{self.value:016x}"
        return f"{self.section}+{self.value:#x}"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (``klp symdb query --json``)."""
        return {
            "name": self.name, "obj": self.obj, "pos": self.pos, "count": self.count,
            "sympos": self.sympos, "address": self.address, "section": self.section,
            "value": self.value, "letter": self.letter, "type": self.type, "bind": self.bind,
            "size": self.size, "file": self.file, "exported": self.exported,
            "late_pos": self.late_pos, "late_count": self.late_count,
        }
