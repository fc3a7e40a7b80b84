"""Human names for raw ELF values, kept apart from parsing (as pyelftools does).

Flag letters and type names follow binutils readelf, so users can compare the
two tools' output line by line.
"""

from __future__ import annotations

from klp.elfcodec.constants import SHF, SHN, SHT, STB, STT, STV

_SHT_NAMES = {
    SHT.SYMTAB_SHNDX: "SYMTAB SECTION INDICES",
    SHT.GNU_ATTRIBUTES: "GNU_ATTRIBUTES",
    SHT.GNU_HASH: "GNU_HASH",
    SHT.GNU_VERDEF: "VERDEF",
    SHT.GNU_VERNEED: "VERNEED",
    SHT.GNU_VERSYM: "VERSYM",
}

#: readelf's flag letters, in its order.
_SHF_LETTERS = (
    (SHF.WRITE, "W"),
    (SHF.ALLOC, "A"),
    (SHF.EXECINSTR, "X"),
    (SHF.MERGE, "M"),
    (SHF.STRINGS, "S"),
    (SHF.INFO_LINK, "I"),
    (SHF.LINK_ORDER, "L"),
    (SHF.OS_NONCONFORMING, "O"),
    (SHF.GROUP, "G"),
    (SHF.TLS, "T"),
    (SHF.COMPRESSED, "C"),
    (SHF.EXCLUDE, "E"),
)
_SHF_MASKOS = 0x0FF00000


def section_type(sh_type: int) -> str:
    special = _SHT_NAMES.get(sh_type)  # type: ignore[call-overload]
    if special is not None:
        return str(special)
    try:
        return SHT(sh_type).name
    except ValueError:
        if 0x60000000 <= sh_type <= 0x6FFFFFFF:
            return f"LOOS+0x{sh_type - 0x60000000:x}"
        if 0x70000000 <= sh_type <= 0x7FFFFFFF:
            return f"LOPROC+0x{sh_type - 0x70000000:x}"
        return f"{sh_type:08x}: <unknown>"


def section_flags(flags: int) -> str:
    """readelf -S letters (``o`` marks OS-specific bits such as SHF_RELA_LIVEPATCH)."""
    letters = "".join(letter for bit, letter in _SHF_LETTERS if flags & bit)
    if flags & _SHF_MASKOS:
        letters += "o"
    return letters


def section_flag_names(flags: int) -> list[str]:
    """Every flag by name, including the livepatch ones (for --json and tables)."""
    names = [f"SHF_{f.name}" for f in SHF if f.value & flags and f.name]
    known = sum(f.value for f in SHF)
    if flags & ~known:
        names.append(f"{flags & ~known:#x}")
    return names


def symbol_bind(bind: int) -> str:
    try:
        return "UNIQUE" if bind == STB.GNU_UNIQUE else STB(bind).name
    except ValueError:
        return f"<{bind}>"


def symbol_type(type_: int) -> str:
    try:
        return "IFUNC" if type_ == STT.GNU_IFUNC else STT(type_).name
    except ValueError:
        return f"<{type_}>"


def symbol_visibility(other: int) -> str:
    return STV(other & 3).name


def section_index(shndx: int) -> str:
    """readelf's Ndx column, except that SHN_LIVEPATCH is named."""
    if shndx == SHN.UNDEF:
        return "UND"
    if shndx == SHN.ABS:
        return "ABS"
    if shndx == SHN.COMMON:
        return "COM"
    if shndx == SHN.LIVEPATCH:
        return "LIVEPATCH"
    if shndx == SHN.XINDEX:
        return "XINDEX"
    return str(shndx)
