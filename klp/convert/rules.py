"""The kernel's rules for livepatch relocations, one function per rule.

Each returns the reason a relocation or name breaks the rule, or None, except
:func:`loaded_target`, which says whether the loader applies a RELA section at
all. The comments name the kernel code the rule follows.
"""

from __future__ import annotations

from klp.elfcodec.arch import Arch
from klp.elfcodec.constants import EM, SHF, SHN
from klp.elfcodec.elffile import ElfFile, Section

# kernel: include/linux/module.h MODULE_NAME_LEN (64 - sizeof(long)) and the
# ".klp.sym.%55[^.].%511[^,],%lu" pattern in kernel/livepatch/core.c
MAX_OBJECT_NAME = 55
MAX_SYMBOL_NAME = 511

#: Sections whose entries are processed when the livepatch module itself loads
#: (jump labels, static calls, alternatives, exception and bug tables, ppc64
#: feature fixups). A module-specific klp relocation is applied later, when the
#: target module loads, so it must never point into them (kernel:
#: kernel/livepatch/core.c klp_apply_section_relocs and module_finalize).
SPECIAL_SECTIONS = (
    "__jump_table",
    ".static_call_sites",
    ".altinstructions",
    ".altinstr_replacement",
    ".parainstructions",
    "__bug_table",
    "__ex_table",
    ".smp_locks",
    "__ftr_fixup",
    "__mmu_ftr_fixup",
    "__fw_ftr_fixup",
    "__lwsync_fixup",
)

# ppc64 (arch/powerpc/kernel/module_64.c): TOC-relative types are relative to the
# *module's* TOC, which is meaningless for a kernel symbol (and TOC16_HA is not
# range-checked, so it would truncate silently).
PPC64_TOC16_TYPES = frozenset({47, 48, 49, 50, 63, 64})
PPC64_REL24 = 10
PPC_NOP = 0x60000000
PPC_LD_R2_24_R1 = 0xE8410018  # what the loader writes over the nop (re-patching)

# s390 (arch/s390/kernel/module.c apply_rela): the types that go through a slot
# of the module's GOT, GOT12/32/16/64/ENT/20 and GOTPLT12/16/32/64/ENT/20.
S390_GOT_TYPES = frozenset({6, 7, 15, 24, 26, 29, 30, 31, 32, 33, 58, 59})


def object_name(obj: str) -> str | None:
    if not obj or len(obj) > MAX_OBJECT_NAME:
        return f"object name {obj!r} is longer than {MAX_OBJECT_NAME} characters"
    if "." in obj:
        return f"object name {obj!r} contains '.', which the kernel cannot parse"
    return None


def symbol_name(name: str) -> str | None:
    if len(name.encode("utf-8", "surrogateescape")) > MAX_SYMBOL_NAME:
        return f"symbol name is longer than {MAX_SYMBOL_NAME} bytes (KSYM_NAME_LEN)"
    if "," in name:
        return "symbol name contains ',', which ends the name in .klp.sym.<obj>.<sym>,<pos>"
    return None


def loaded_target(elf: ElfFile, rela: Section) -> Section | None:
    """The section a RELA section's relocations apply to, or None when the module
    loader never applies them (a non-ALLOC target, such as debug info; kernel:
    kernel/module/main.c apply_relocations)."""
    target = elf.rela_target(rela)
    return target if target is not None and target.sh_flags & SHF.ALLOC else None


def target_section(target: Section, obj: str) -> str | None:
    """Which loaded sections a klp relocation for ``obj`` may apply to (the loader
    applies none outside SHF_ALLOC ones: :func:`loaded_target`)."""
    if obj == "vmlinux":
        return None
    name = target.name
    if name.startswith(".init") or name.startswith(".exit"):
        return (f"{name} is freed after the patch loads; a relocation for module {obj} "
                "is applied later")
    for special in SPECIAL_SECTIONS:
        if name == special or name.startswith(special + "."):
            return (f"{name} is processed when the patch loads, before module {obj}'s "
                    "relocations are applied (only vmlinux symbols are allowed there)")
    return None


def relocation_type(arch: Arch, rtype: int) -> str | None:
    if rtype not in arch.loader_types:
        return f"{arch.reloc_name(rtype)} is not a type the {arch.name} module loader applies"
    if arch.machine == EM.PPC64 and rtype in PPC64_TOC16_TYPES:
        return (f"{arch.reloc_name(rtype)} is relative to the livepatch's own TOC and "
                "cannot reach a kernel symbol")
    return None


def _ppc64_links(target_data: bytes, offset: int) -> bool:
    """The REL24 branch at ``offset`` is a ``bl`` (LK bit set), not a ``b``."""
    return bool(int.from_bytes(target_data[offset : offset + 4], "little") & 1)


def ppc64_call_has_nop(arch: Arch, rtype: int, target_data: bytes, offset: int) -> str | None:
    """A converted ``bl`` goes through a stub and must be followed by a nop (kernel:
    arch/powerpc/kernel/module_64.c, restore_r2 "Expected nop after call")."""
    if arch.machine != EM.PPC64 or rtype != PPC64_REL24:
        return None
    if offset + 8 > len(target_data):
        return "REL24 at the end of its section: no room for the nop the loader needs"
    if not _ppc64_links(target_data, offset):  # b, not bl: no TOC restore needed
        return None
    following = int.from_bytes(target_data[offset + 4 : offset + 8], "little")
    if following not in (PPC_NOP, PPC_LD_R2_24_R1):
        return (f"bl is followed by {following:#010x}, not a nop: the kernel needs one to "
                "restore r2 after a call through a stub (a call local to the object?)")
    return None


def section_count(shnum: int) -> str | None:
    # kernel: a section index >= SHN_LORESERVE would collide with SHN_LIVEPATCH & co.
    if shnum >= SHN.LORESERVE:
        return f"{shnum} sections: the module loader needs fewer than {SHN.LORESERVE:#x}"
    return None


def late_write(arch: Arch, target: Section, obj: str) -> str | None:
    """A warning, not an error: arm64 applies module-specific klp relocations with
    plain stores after the patch's text and rodata became read-only (kernel:
    arch/arm64/kernel/module.c apply_relocate_add; kpatch issues #1216, #1439)."""
    if arch.machine != EM.AARCH64 or obj == "vmlinux":
        return None
    if target.sh_flags & SHF.WRITE:
        return None
    return (f"arm64 writes module {obj}'s relocations into {target.name} after it is "
            "read-only; kernels without a text-patching path fault when the module loads")


def module_reload(arch: Arch, obj: str, rtype: int, target_data: bytes, offset: int) -> str | None:
    """A warning, not an error: the kernel gets this relocation wrong when module ``obj``
    is removed and loaded again while the patch stays loaded.

    livepatch then applies the patch's ``.klp.rela.<obj>.*`` sections a second time
    (kernel/livepatch/core.c klp_module_coming), over what the first time wrote;
    only x86_64 from 6.3 writes the old values back when the module goes
    (clear_relocate_add(), commit 0c05e7bd2d01).  Seen in the e2e test on 6.1,
    and read in Debian's linux-source-6.12 (6.12.117).
    """
    if obj == "vmlinux":
        return None
    redo = (f"to reload {obj}, disable and remove this patch first and load it again "
            f"once {obj} is back, or keep {obj} loaded")
    if arch.machine == EM.X86_64:
        # arch/x86/kernel/module.c __write_relocate_add: a target that is not zero
        # is refused, and 6.1 leaves the first value in place
        return (f"x86_64 kernels before 6.3 refuse to load module {obj} again while this patch "
                "is loaded (\"Skipping invalid relocation target, existing value is nonzero\": "
                f"the patch's relocations for {obj} are not cleared when it goes): {redo}, or "
                "run 6.3 or later")
    if arch.machine == EM.PPC64 and rtype == PPC64_REL24 and _ppc64_links(target_data, offset):
        # arch/powerpc/kernel/module_64.c restore_r2: the nop after the call became
        # ld r2,24(r1) the first time; 6.3 accepts it (commit 37251c7114e1)
        return (f"ppc64le kernels before 6.3 refuse to load module {obj} again while this patch "
                f"is loaded (\"Expected nop after call\": the patch's calls into {obj} were "
                f"patched the first time): {redo}, or run 6.3 or later")
    if arch.machine == EM.S390 and rtype in S390_GOT_TYPES:
        # arch/s390/kernel/module.c apply_rela: a GOT slot is written only while
        # got_initialized is 0, and it stays 1 from the first time (still so in 6.12)
        return (f"s390x kernels (6.1 to at least 6.12) load module {obj} again while this patch "
                f"is loaded, but the patch's uses of {obj} through its GOT keep the old "
                f"addresses: if {obj} lands elsewhere they read freed memory; {redo}")
    return None
