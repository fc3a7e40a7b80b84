"""What klp knows about each supported machine.

One :class:`Arch` per e_machine: the byte order its kernels use, the relocation
type names (as readelf prints them) and the few facts the converter needs. To
add an architecture, add an entry here and its names to relocnames.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from klp.elfcodec.constants import EM
from klp.elfcodec.relocnames import RELOC_NAMES


@dataclass(frozen=True)
class Arch:
    machine: EM
    name: str
    #: The byte order Linux uses on this machine (s390x is big-endian).
    little: bool
    reloc_names: Mapping[int, str]
    #: The 64-bit absolute data relocation (what KLP_SYMPOS pointers carry).
    abs64: int

    def reloc_name(self, rtype: int) -> str:
        """The readelf name of a relocation type, or a readelf-style unknown marker."""
        return self.reloc_names.get(rtype) or f"unrecognized: {rtype:x}"

    def reloc_type(self, name: str) -> int:
        for number, known in self.reloc_names.items():
            if known == name:
                return number
        raise KeyError(name)


ARCHES: dict[int, Arch] = {
    a.machine: a
    for a in (
        Arch(EM.X86_64, "x86_64", True, RELOC_NAMES[EM.X86_64], abs64=1),
        Arch(EM.AARCH64, "arm64", True, RELOC_NAMES[EM.AARCH64], abs64=257),
        Arch(EM.PPC64, "ppc64le", True, RELOC_NAMES[EM.PPC64], abs64=38),
        Arch(EM.S390, "s390x", False, RELOC_NAMES[EM.S390], abs64=22),
    )
}
