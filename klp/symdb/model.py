"""The symbol database's data: an object's kept symbols as the scanner finds them
(:class:`ObjectSymbols`), and the record a lookup hands out (:class:`SymbolRecord`).

Plain data with no heavy imports, so the file format, the converter and ``klp
symdb query`` use it without loading the scanner.
"""

from __future__ import annotations

import enum
from collections import Counter
from typing import NamedTuple

from klp.elfcodec.constants import st_bind, st_info, st_type
from klp.elfcodec.strings import decode_name, encode_name


class Dialect(enum.StrEnum):
    """The two kinds of symbols.klp (``--format``): ours, and the upstream proposal's."""

    KLP = "klp"
    UPSTREAM = "klp-convert-0.1"


#: kbuild's ksymtab entry: ``__ksymtab_<name>`` marks ``<name>`` as exported; it sits
#: in ``__ksymtab`` (EXPORT_SYMBOL) or ``__ksymtab_gpl`` (EXPORT_SYMBOL_GPL).
KSYMTAB_PREFIX = b"__ksymtab_"


class SymbolRecord(NamedTuple):
    """One symbol the running kernel keeps, with its position as the kernel counts it."""

    name: str
    obj: str  #: ``vmlinux`` or the module name the kernel uses
    pos: int  #: 1-based rank among same-named symbols of ``obj`` (kallsyms order)
    #: how many symbols of ``obj`` have this name
    count: int  # type: ignore[assignment]  # shadows tuple.count, which no caller needs
    letter: str  #: the type letter /proc/kallsyms shows (nm's, for a System.map)
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


#: A kallsyms range's start, as its record's ``address`` -> the offsets from it of the
#: ftrace call sites in the range, for ranges where livepatch may hook the wrong one
#: (klp/symdb/callsites.py).
SharedRanges = dict[str, tuple[int, ...]]


#: st_info's type and binding as symbols.klp writes them (readelf's names).
TYPE_NAMES: tuple[bytes, ...] = (
    b"NOTYPE", b"OBJECT", b"FUNC", b"SECTION", b"FILE", b"COMMON", b"TLS", b"7",
    b"8", b"9", b"IFUNC", b"11", b"12", b"13", b"14", b"15",
)
BIND_NAMES: tuple[bytes, ...] = (
    b"LOCAL", b"GLOBAL", b"WEAK", b"3", b"4", b"5", b"6", b"7", b"8", b"9", b"UNIQUE",
    b"11", b"12", b"13", b"14", b"15",
)


class ObjectSymbols:
    """The kept symbols of one object, as parallel columns in position order."""

    __slots__ = ("arch", "exported", "files", "infos", "kind", "label", "late", "letters",
                 "meta", "name", "names", "sections", "sizes", "values")

    def __init__(self, *, name: str, label: str, kind: str, arch: str, meta: dict[str, str],
                 names: list[bytes], letters: list[bytes], infos: list[int] | None,
                 sizes: list[int] | None, sections: list[bytes], values: list[int],
                 files: list[bytes], exported: set[bytes] | None = None) -> None:
        self.name = name  #: the kernel's object name: ``vmlinux`` or the module name
        self.label = label  #: where it was read from, relative to its input folder
        self.kind = kind  #: "vmlinux" or "module"
        self.arch = arch
        self.meta = meta
        self.names = names
        self.letters = letters  #: the /proc/kallsyms type letter
        self.infos = infos  #: st_info; None when the source (System.map) has none
        self.sizes = sizes
        self.sections = sections
        self.values = values  #: vmlinux: address; module: offset in its section
        self.files = files  #: nearest preceding STT_FILE ("" for globals)
        self.exported: set[bytes] = exported if exported is not None else set()
        #: Modules: row -> (position, count) over the full symtab, where they differ.
        self.late: dict[int, tuple[int, int]] = {}

    @classmethod
    def from_records(cls, records: list[SymbolRecord], *, name: str, arch: str,
                     meta: dict[str, str]) -> ObjectSymbols:
        """An object of these records, in their order (position order when each name's
        copies are all there): part of a database written again, as klp convert's
        record of what a module was converted for is. Records without types (System.map)
        give an object without types and sizes."""
        typed = any(r.type != "?" for r in records)
        obj = cls(
            name=name, label=meta.get("path", name),
            kind="vmlinux" if name == "vmlinux" else "module", arch=arch, meta=meta,
            names=[encode_name(r.name) for r in records],
            letters=[encode_name(r.letter) for r in records],
            infos=[st_info(BIND_NAMES.index(encode_name(r.bind)),
                           TYPE_NAMES.index(encode_name(r.type))) for r in records]
            if typed else None,
            sizes=[r.size or 0 for r in records] if typed else None,
            sections=[encode_name(r.section) for r in records],
            values=[r.value or 0 for r in records],
            files=[encode_name(r.file) for r in records],
            exported={encode_name(r.name) for r in records if r.exported})
        obj.late = {row: (r.late_pos, r.late_count) for row, r in enumerate(records)
                    if (r.late_pos, r.late_count) != (r.pos, r.count)}
        return obj

    def __len__(self) -> int:
        return len(self.names)

    def positions(self) -> tuple[list[int], list[int], int]:
        """Per row: the 1-based position among same-named rows and their count; and
        how many names repeat."""
        names = self.names
        counts = Counter(names)
        pos = [1] * len(names)
        repeated = {n for n, c in counts.items() if c > 1}
        if repeated:
            seen: dict[bytes, int] = {}
            for i, n in enumerate(names):
                if n in repeated:
                    seen[n] = pos[i] = seen.get(n, 0) + 1
        return pos, [counts[n] for n in names], len(repeated)

    @property
    def records(self) -> list[SymbolRecord]:
        """Decoded records (slow; for tests and small objects)."""
        pos, count, _ = self.positions()
        out = []
        for i, name in enumerate(self.names):
            info = self.infos[i] if self.infos is not None else None
            late = self.late.get(i, (pos[i], count[i]))
            out.append(SymbolRecord(
                name=decode_name(name), obj=self.name, pos=pos[i], count=count[i],
                letter=decode_name(self.letters[i]),
                type=decode_name(TYPE_NAMES[st_type(info)]) if info is not None else "?",
                bind=decode_name(BIND_NAMES[st_bind(info)]) if info is not None else "?",
                size=self.sizes[i] if self.sizes is not None else None,
                section=decode_name(self.sections[i]),
                value=self.values[i],
                file=decode_name(self.files[i]), exported=name in self.exported,
                late_pos=late[0], late_count=late[1]))
        return out


