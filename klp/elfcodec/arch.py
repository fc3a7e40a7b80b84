"""What klp knows about each supported machine.

One :class:`Arch` per e_machine: the byte order its kernels use, the relocation
type names (as readelf prints them) and the few facts the converter needs. To
add an architecture, add an entry here and its names to relocnames.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from klp.elfcodec.constants import EM
from klp.elfcodec.relocnames import RELOC_NAMES


class Arch(NamedTuple):
    machine: EM
    name: str
    #: The byte order Linux uses on this machine (s390x is big-endian).
    little: bool
    reloc_names: Mapping[int, str]
    #: The 64-bit absolute data relocation (what KLP_SYMPOS pointers carry).
    abs64: int
    #: Relocation types the kernel's apply_relocate_add() accepts; anything else
    #: makes the module (or the patch) fail with -ENOEXEC.
    loader_types: frozenset[int]
    #: The dynamic relocation a relocatable (PIE) vmlinux uses for its own pointers
    #: (link-time address in the addend), which the kernel applies as it boots.
    relative: int

    def reloc_name(self, rtype: int) -> str:
        """The readelf name of a relocation type, or a readelf-style unknown marker."""
        return self.reloc_names.get(rtype) or f"unrecognized: {rtype:x}"



# kernel: arch/x86/kernel/module.c, __write_relocate_add
_X86_64_TYPES = frozenset({0, 1, 2, 4, 10, 11, 24})
# kernel: arch/arm64/kernel/module.c, apply_relocate_add (R_ARM_NONE 0, NONE 256 ...)
_AARCH64_TYPES = frozenset({0, *range(256, 281), *range(282, 294), 299})
# kernel: arch/powerpc/kernel/module_64.c, apply_relocate_add (incl. the PCREL kernels' types)
_PPC64_TYPES = frozenset({1, 10, 26, 38, 44, 47, 48, 50, 51, 63, 64, 109, 116, 118, 132, 133,
                          250, 252})
# kernel: arch/s390/kernel/module.c, apply_rela (COPY, GLOB_DAT, JMP_SLOT, RELATIVE refused)
_S390_TYPES = frozenset(set(range(0, 37)) - {9, 10, 11, 12}) | {57, 58, 59}

ARCHES: dict[int, Arch] = {
    a.machine: a
    for a in (
        Arch(EM.X86_64, "x86_64", True, RELOC_NAMES[EM.X86_64], 1, _X86_64_TYPES, 8),
        Arch(EM.AARCH64, "arm64", True, RELOC_NAMES[EM.AARCH64], 257, _AARCH64_TYPES, 1027),
        Arch(EM.PPC64, "ppc64le", True, RELOC_NAMES[EM.PPC64], 38, _PPC64_TYPES, 22),
        Arch(EM.S390, "s390x", False, RELOC_NAMES[EM.S390], 22, _S390_TYPES, 12),
    )
}
