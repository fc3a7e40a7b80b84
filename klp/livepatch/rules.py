"""The kernel's rules for livepatch relocations, one function per rule.

Each returns the reason a relocation or name breaks the rule, or None, except
:func:`loaded_target`, which says whether the loader applies a RELA section at
all, :func:`bind_position`, which gives the symbol a position binds to (or the
reason none), and :func:`init_memory`, which finds what vmlinux frees after boot.
The comments name the kernel code the rule follows.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from klp.elfcodec.arch import Arch
from klp.elfcodec.constants import EM, SHF, SHN, SHT
from klp.elfcodec.elffile import ElfFile, Section
from klp.elfcodec.kmod import is_livepatch
from klp.elfcodec.strings import decode_name, encode_name

if TYPE_CHECKING:
    from klp.elfcodec.dwarf import Signature
    from klp.symdb.model import SharedRanges, SymbolRecord

#: Names the linker resolves in the module itself.
LINKER_PROVIDED = re.compile(r"\.TOC\.|_GLOBAL_OFFSET_TABLE_")
#: Names vmlinux provides to every module of its architecture (ftrace hooks, return
#: and retpoline thunks): the loader resolves them, so they are never converted. Only
#: those names: ppc64's loader knows _mcount, ftrace_caller and ftrace_regs_caller by
#: name (module_64.c is_mprofile_ftrace_call); any other ftrace_* is a plain symbol.
KERNEL_PROVIDED = re.compile(
    r"_mcount|__fentry__|ftrace_caller|ftrace_regs_caller|__x86_return_thunk"
    r"|__x86_indirect_(?:call_|jump_)?thunk_.*|__s390x?_indirect_jump_.*")


def provided(name: str) -> bool:
    """A name the linker or the loader resolves for every module: never converted, and
    never looked for among the target's exports."""
    return bool(LINKER_PROVIDED.fullmatch(name) or KERNEL_PROVIDED.fullmatch(name))

# kernel: include/linux/module.h MODULE_NAME_LEN (64 - sizeof(long)) and the
# ".klp.sym.%55[^.].%511[^,],%lu" pattern in kernel/livepatch/core.c
MAX_OBJECT_NAME = 55
MAX_SYMBOL_NAME = 511
#: Before v6.1 KSYM_NAME_LEN was 128, and the pattern read %127[^,].
MAX_SYMBOL_NAME_BEFORE_6_1 = 127
KLP_SYM_PREFIX = ".klp.sym."
KLP_RELA_PREFIX = ".klp.rela."


def max_symbol_name(version: tuple[int, int] | None) -> int:
    """The longest symbol name the kernel's .klp.sym pattern reads (unknown: 6.1+)."""
    return MAX_SYMBOL_NAME_BEFORE_6_1 if version is not None and version < (6, 1) \
        else MAX_SYMBOL_NAME


class KlpSymbolName(NamedTuple):
    """``.klp.sym.<obj>.<name>,<pos>`` as the kernel reads it."""

    obj: str
    name: str
    pos: int


#: the kernel's isspace() (lib/ctype.c) also counts 0xa0, which %lu skips
_KLP_SYMBOL = re.compile(rb"\.klp\.sym\.([^.]{1,55})\.([^,]{1,%d}),[ \t\n\v\f\r\xa0]*(\d+)")


def parse_klp_symbol(symbol: str, version: tuple[int, int] | None) -> KlpSymbolName | str:
    """The parts of a klp symbol name, or why the kernel refuses it (kernel:
    kernel/livepatch/core.c klp_resolve_symbols, sscanf of
    ``.klp.sym.%55[^.].%511[^,],%lu``; "has an incorrectly formatted name"). Like
    sscanf, an object name longer than 55 bytes or a symbol name longer than the
    limit fails, and anything after the position's digits is ignored."""
    raw = encode_name(symbol)
    limit = max_symbol_name(version)
    found = re.match(_KLP_SYMBOL.pattern % limit, raw)
    if found is None:
        why = (f"the kernel reads .klp.sym.<object, at most {MAX_OBJECT_NAME} bytes, no '.'>"
               f".<symbol, at most {limit} bytes, no ','>,<decimal position>")
        return f"{symbol} has an incorrectly formatted name: {why}"
    obj, name, pos = (found.group(i) for i in (1, 2, 3))
    return KlpSymbolName(decode_name(obj), decode_name(name), int(pos) % 2**64)  # %lu wraps


def klp_symbols(elf: ElfFile) -> list[KlpSymbolName]:
    """The module's klp symbols (SHN_LIVEPATCH) whose names parse at the longest name
    limit (whether the target's kernel takes them is verify's question)."""
    table = elf.symtab
    return [parsed for i in table.indices_in(SHN.LIVEPATCH)
            if isinstance(parsed := parse_klp_symbol(table.name(i), None), KlpSymbolName)]


def klp_section_name(obj: str, target: str) -> str:
    """The klp relocation section of ``obj``'s relocations into section ``target``."""
    return f"{KLP_RELA_PREFIX}{obj}.{target}"


def parse_klp_section(section: str) -> str | None:
    """The object of a ``.klp.rela.<obj>.<section>`` name, or None when the kernel
    cannot read one (kernel: klp_apply_section_relocs, ``.klp.rela.%55[^.]``)."""
    raw = encode_name(section)
    found = re.match(rb"\.klp\.rela\.([^.]{1,55})", raw)
    return decode_name(found.group(1)) if found else None

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
#: The first release that clears a module's klp relocations when it goes (x86_64,
#: commit 0c05e7bd2d01) or accepts the restored r2 load over the nop (ppc64le,
#: commit 37251c7114e1).
RELOAD_FIXED = (6, 3)


def object_name(obj: str) -> str | None:
    if not obj:
        return "the object name is empty: the kernel's .klp.sym.%55[^.] needs one character"
    if len(encode_name(obj)) > MAX_OBJECT_NAME:
        return f"object name {obj!r} is longer than {MAX_OBJECT_NAME} characters"
    if "." in obj:
        return f"object name {obj!r} contains '.', which the kernel cannot parse"
    return None


def symbol_name(name: str, version: tuple[int, int] | None) -> str | None:
    limit = max_symbol_name(version)
    if not name:
        return (f"the symbol name is empty: the kernel's .klp.sym.<obj>.%{limit}[^,] needs "
                "one character")
    if len(encode_name(name)) > limit:
        return f"symbol name is longer than {limit} bytes (KSYM_NAME_LEN of this kernel)"
    if "," in name:
        return "symbol name contains ',', which ends the name in .klp.sym.<obj>.<sym>,<pos>"
    return None


#: Sections the module loader takes SHF_ALLOC from before it applies relocations
#: (kernel/module/main.c rewrite_section_headers: .modinfo and __versions;
#: layout_and_allocate: the per-CPU section, copied to each CPU's area instead).
LOADER_UNALLOCATED = (".modinfo", "__versions", "__version_ext_crcs", "__version_ext_names",
                      ".data..percpu")


def loaded_target(elf: ElfFile, rela: Section) -> Section | None:
    """The section a RELA section's relocations apply to, or None when the module
    loader never applies them: a non-ALLOC target, such as debug info, or one it
    takes SHF_ALLOC from (kernel: kernel/module/main.c apply_relocations)."""
    target = elf.rela_target(rela)
    if target is None or not target.sh_flags & SHF.ALLOC \
            or target.name in LOADER_UNALLOCATED:
        return None
    return target


def target_section(target: Section, obj: str) -> str | None:
    """Which loaded sections a klp relocation for ``obj`` may apply to (the loader
    applies none outside SHF_ALLOC ones: :func:`loaded_target`)."""
    if obj == "vmlinux":
        return None
    name = target.name
    # .exit* stays loaded with CONFIG_MODULE_UNLOAD, which removing a patch needs
    # (kernel/module/main.c module_init_layout_section)
    if name.startswith(".init"):
        return (f"{name} is the patch's init code or data: it has run, and is freed after "
                f"the patch loads (except on ppc64), when a relocation for module {obj} is "
                "applied later")
    for special in SPECIAL_SECTIONS:
        if name == special or name.startswith(special + "."):
            return (f"{name} is processed when the patch loads, before module {obj}'s "
                    "relocations are applied (only vmlinux symbols are allowed there)")
    return None


def klp_section_object(section_obj: str, klp_symbol: str, symbol_obj: str
                       ) -> tuple[str, bool] | None:
    """What the kernel does with a klp symbol of another object than its klp section's:
    (why, whether to refuse). The section's object decides when the relocations are
    applied, the symbol's where they point (kernel: kernel/livepatch/core.c
    klp_apply_section_relocs, klp_resolve_symbols)."""
    if section_obj == symbol_obj:
        return None
    if symbol_obj == "vmlinux":
        return (f"invalid access to vmlinux symbol {klp_symbol} from module {section_obj}'s "
                "klp section: the kernel refuses it (an exported vmlinux symbol needs no klp "
                "relocation, any other goes in vmlinux's klp section)", True)
    if section_obj == "vmlinux":
        return (f"{klp_symbol} is in vmlinux's klp section, applied when the patch loads: the "
                f"patch fails to load unless module {symbol_obj} is loaded then, and nothing "
                f"keeps {symbol_obj} loaded while the patch uses its address (put it in "
                f"{symbol_obj}'s klp section)", True)
    return (f"{klp_symbol} is in module {section_obj}'s klp section, applied when "
            f"{section_obj} loads: module {symbol_obj} must be loaded by then, or "
            f"{section_obj} fails to load (it is when {section_obj} depends on "
            f"{symbol_obj})", False)


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
    if not _ppc64_links(target_data, offset):  # b, not bl: no TOC restore needed
        return None
    if offset + 8 > len(target_data):
        return "REL24 at the end of its section: no room for the nop the loader needs"
    following = int.from_bytes(target_data[offset + 4 : offset + 8], "little")
    if following not in (PPC_NOP, PPC_LD_R2_24_R1):
        return (f"bl is followed by {following:#010x}, not a nop: the kernel needs one to "
                "restore r2 after a call through a stub (a call local to the object?)")
    return None


#: x86_64 relocation types by the bytes they write (arch/x86/kernel/module.c).
_X86_64_WIDTH = {1: 8, 2: 4, 4: 4, 10: 4, 11: 4, 24: 8}


def x86_target_is_zero(arch: Arch, rtype: int, target_data: bytes, offset: int) -> str | None:
    """x86 refuses to relocate over bytes that are not zero (kernel:
    arch/x86/kernel/module.c __write_relocate_add, "Invalid relocation target, existing
    value is nonzero"): RELA keeps the addend in the record, the field stays zero."""
    width = _X86_64_WIDTH.get(rtype) if arch.machine == EM.X86_64 else None
    if width is None or not any(target_data[offset : offset + width]):
        return None
    return (f"the {width} bytes it writes are not zero; x86 refuses it (\"Invalid relocation "
            "target, existing value is nonzero\"): the field was written over")


def klp_section(sec: Section) -> str | None:
    """What a klp relocation section must be (kernel: kernel/module/main.c applies
    SHF_RELA_LIVEPATCH sections through the livepatch core, any other RELA section as
    a plain one; Documentation/livepatch/module-elf-format.rst: SHF_ALLOC, since
    module-specific ones are applied after the load image is freed)."""
    if sec.sh_type != SHT.RELA:
        return "is not SHT_RELA"
    if not sec.sh_flags & SHF.RELA_LIVEPATCH:
        return ("lacks SHF_RELA_LIVEPATCH: the module loader would apply it as a plain "
                "relocation section, against klp symbols whose value is 0")
    if not sec.sh_flags & SHF.ALLOC:
        return ("lacks SHF_ALLOC: its relocations stay in the load image, which is freed "
                "before a module-specific section is applied")
    return None


def module_reload(arch: Arch, obj: str, rtype: int, target_data: bytes, offset: int,
                  version: tuple[int, int] | None) -> str | None:
    """A warning, not an error: the kernel gets this relocation wrong when module ``obj``
    is removed and loaded again while the patch stays loaded.

    livepatch then applies the patch's ``.klp.rela.<obj>.*`` sections a second time
    (kernel/livepatch/core.c klp_module_coming), over what the first time wrote;
    only x86_64 from 6.3 writes the old values back when the module goes
    (clear_relocate_add(), commit 0c05e7bd2d01). Seen in the e2e test on 6.1, and
    read in Debian's linux-source-6.12 (6.12.117).
    """
    if obj == "vmlinux":
        return None
    redo = (f"to reload {obj}, disable and remove this patch first and load it again "
            f"once {obj} is back, or keep {obj} loaded")
    fixed = version is not None and version >= RELOAD_FIXED
    if arch.machine == EM.X86_64 and not fixed:
        # arch/x86/kernel/module.c __write_relocate_add: a target that is not zero
        # is refused, and 6.1 leaves the first value in place
        return (f"x86_64 kernels before 6.3 refuse to load module {obj} again while this "
                "patch is loaded (\"Skipping invalid relocation target, existing value is "
                f"nonzero\": the patch's relocations for {obj} are not cleared when it goes): "
                f"{redo}, or run 6.3 or later")
    if arch.machine == EM.PPC64 and not fixed and rtype == PPC64_REL24 \
            and _ppc64_links(target_data, offset):
        # arch/powerpc/kernel/module_64.c restore_r2: the nop after the call became
        # ld r2,24(r1) the first time; 6.3 accepts it (commit 37251c7114e1)
        return (f"ppc64le kernels before 6.3 refuse to load module {obj} again while this "
                f"patch is loaded (\"Expected nop after call\": the patch's calls into {obj} "
                f"were patched the first time): {redo}, or run 6.3 or later")
    if arch.machine == EM.S390 and rtype in S390_GOT_TYPES:
        # arch/s390/kernel/module.c apply_rela: a GOT slot is written only while
        # got_initialized is 0, and it stays 1 from the first time (still so in 6.12)
        return (f"s390x kernels (6.1 to at least 6.12) load module {obj} again while this "
                f"patch is loaded, but the patch's uses of {obj} through its GOT keep the old "
                f"addresses: if {obj} lands elsewhere they read freed memory; {redo}")
    return None


def section_count(shnum: int) -> str | None:
    # kernel: a section index >= SHN_LORESERVE would collide with SHN_LIVEPATCH & co.
    if shnum >= SHN.LORESERVE:
        return f"{shnum} sections: the module loader needs fewer than {SHN.LORESERVE:#x}"
    return None


def late_write(arch: Arch, target: Section, obj: str) -> tuple[str, bool] | None:
    """A module-specific klp relocation into memory that is read-only by the time it
    is applied: (why, whether every kernel of the architecture faults on it).

    Such relocations are applied when the module loads, after the patch's text,
    rodata and ro_after_init data became read-only. ppc64 stores every type but
    REL24 (which goes through patch_instruction) directly, through 6.12 at least
    (arch/powerpc/kernel/module_64.c apply_relocate_add): a refusal the user may
    force. arm64 did too (arch/arm64/kernel/module.c; kpatch issues #1216, #1439),
    but the kernels that can load a livepatch there (6.17+) patch text: a warning.
    """
    if obj == "vmlinux" or arch.machine not in (EM.AARCH64, EM.PPC64):
        return None
    read_only = not target.sh_flags & SHF.WRITE or target.name.startswith(".data..ro_after_init")
    if not read_only or (arch.machine == EM.PPC64 and target.sh_flags & SHF.EXECINSTR):
        return None
    if arch.machine == EM.PPC64:
        return (f"ppc64le writes module {obj}'s relocations into {target.name} with plain "
                "stores after it is read-only, so the kernel faults when the module loads: "
                "keep the data the patch relocates writable (not const, or "
                "__section(\".data\"))"), True
    return (f"arm64 writes module {obj}'s relocations into {target.name} after it is "
            "read-only; kernels without a text-patching path fault when the module loads"), False


#: kernel: kernel/module/main.c applies .klp.rela.vmlinux.* itself when the patch
#: module loads, since v5.8 ("livepatch: Apply vmlinux-specific KLP relocations
#: early"); before, klp_init_object_loaded() did it for a registered vmlinux object.
VMLINUX_RELOCS_EARLY = (5, 8)


def kernel_version(release: str) -> tuple[int, int] | None:
    """(major, minor) of a kernel release or vermagic ("6.1.0-57-cloud-amd64 SMP ...")."""
    parts = release.split(".", 2)
    try:
        return int(parts[0]), int(parts[1].split("-")[0].split("+")[0])
    except (ValueError, IndexError):
        return None


def livepatch_flag(modinfo: Mapping[str, str]) -> str | None:
    """The kernel applies klp relocations only for a module that says it is a livepatch
    (kernel/module: check_modinfo_livepatch reads ``livepatch=Y``)."""
    if is_livepatch(modinfo):
        return None
    return ("the module's .modinfo has no livepatch=Y: the kernel loads it as a plain module "
            'and never applies klp relocations (a livepatch module declares MODULE_INFO('
            'livepatch, "Y"))')


def bind_position(records: Sequence[SymbolRecord], pos: int, *, late: bool) -> SymbolRecord | str:
    """The symbol the kernel binds (obj, name, pos) to among ``records`` (the name's
    definitions in that object), or the kernel's reason for refusing it (kernel:
    kernel/livepatch/core.c klp_find_object_symbol). ``late``: a module loading after
    the patch, whose full symtab counts. Convert follows it for KLP_SYMPOS, verify for
    every klp symbol and klp_func."""
    if not records:
        return "not found: the object has no symbol of that name"
    count = records[0].late_count if late else records[0].count
    if pos == 0 and count > 1:
        return (f"not unique: {count} symbols of that name, and position 0 needs a "
                "unique name (give the position)")
    if pos > count:
        return f"position {pos} of {count}: there are only {count} symbols of that name"
    want = max(pos, 1)
    for record in records:
        if (record.late_pos if late else record.pos) == want:
            return record
    return (f"position {pos} is a symbol the module keeps only while it loads (an init "
            "or non-allocated one), not one the patch can mean")


#: The symbols that bound vmlinux's init memory (every architecture's vmlinux.lds.S),
#: which free_initmem() returns to the allocator once the kernel has booted, and the
#: per-CPU template that some architectures (arm64, ppc64, s390; x86_64 in 7.x) link
#: inside it: the template's addresses stay the base each CPU's copy is reached
#: from, so referencing them is right.
INIT_MEMORY_BOUNDS = ("__init_begin", "__init_end", "__per_cpu_start", "__per_cpu_end")


class InitMemory(NamedTuple):
    """vmlinux's init memory, by link-time address, less the per-CPU template."""

    start: int
    end: int
    percpu_start: int
    percpu_end: int

    def holds(self, address: int) -> bool:
        return (self.start <= address < self.end
                and not self.percpu_start <= address < self.percpu_end)


def init_memory(found: Mapping[str, Sequence[SymbolRecord]]) -> InitMemory | None:
    """The init memory a lookup of :data:`INIT_MEMORY_BOUNDS` describes (None when the
    database lacks its bounds: then nothing is known to be freed)."""
    def value(name: str) -> int | None:
        values = {r.value for r in found.get(name, ()) if r.obj == "vmlinux"}
        return values.pop() if len(values) == 1 else None

    start, end, percpu_start, percpu_end = map(value, INIT_MEMORY_BOUNDS)
    if start is None or end is None or start >= end:
        return None
    return InitMemory(start, end, percpu_start or 0, percpu_end or 0)


def freed_after_boot(record: SymbolRecord, memory: InitMemory | None) -> tuple[str, bool] | None:
    """A vmlinux function or variable in init memory: (why, whether its type is known).

    The kernel frees that memory long before any livepatch loads, and nothing checks a
    reference to it (modpost sees an undefined symbol; kernel/livepatch/core.c binds
    any kallsyms name): the patched code would call or read whatever lives there now.
    Linker-made bounds (NOTYPE, like _sinittext) are addresses, never dereferenced; a
    database from System.map alone cannot tell them from a function (type "?").
    """
    if memory is None or record.obj != "vmlinux" or record.value is None \
            or not memory.holds(record.value) or record.type in ("NOTYPE", "SECTION", "FILE"):
        return None
    where = f" ({record.section})" if record.section else ""
    what = {"FUNC": "function", "OBJECT": "variable"}.get(record.type, "symbol")
    reason = (f"{record.name} is an init {what} of vmlinux{where}: the kernel frees init "
              "memory after boot, before any livepatch loads, so the patched code would use "
              "freed memory; use what the running kernel keeps instead (a copy in the patch, "
              "or the data the init code left behind)")
    if record.type == "?":
        reason += (" - unless it is a linker-made bound like _sinittext, which a symbol list "
                   "without types (System.map, /proc/kallsyms) cannot tell apart: a symbol "
                   "database built with --vmlinux can")
    return reason, record.type != "?"


#: klp_patch_func() finds a function's ftrace call site with ftrace_location(), which
#: since v5.19 (commit aebfd12521d9) searches the function's kallsyms range when no
#: call site is at its address; before, only the address (x86) or its first 16 bytes
#: (powerpc's klp_get_ftrace_location) counted, and a miss failed the patch's load.
FTRACE_RANGE_SEARCH = (5, 19)


def one_call_site(record: SymbolRecord, shared: SharedRanges,
                  version: tuple[int, int] | None) -> str | None:
    """A patched function whose kallsyms range holds several ftrace call sites and none
    at its address: livepatch hooks whichever one the search in lookup_rec()
    (kernel/trace/ftrace.c) meets, which may belong to a body without a symbol (an
    overridden ``__weak`` function) that never runs (klp/symdb/callsites.py)."""
    if record.value is None or (version is not None and version < FTRACE_RANGE_SEARCH):
        return None
    offsets = shared.get(record.address)
    if offsets is None:
        return None
    sites = ", ".join(f"+{o:#x}" for o in offsets)
    beyond = [f"+{o:#x}" for o in offsets if record.size and o >= record.size]
    whose = (f"; {', '.join(beyond)} lie{'s' if len(beyond) == 1 else ''} past its end "
             f"({record.size:#x} bytes), in code without a symbol, such as an overridden "
             "__weak function") if beyond else ""
    return (f"{record.name}'s kallsyms range holds {len(offsets)} ftrace call sites "
            f"({sites}) and none at its address{whose}: the kernel hooks whichever one "
            "ftrace_location() meets, so the patch may load, report itself enabled and "
            f"never run; replace a caller of {record.name} instead")


def compiler_clones(name: str, obj: str, clones: Sequence[str], found: bool) -> str | None:
    """A patched function the compiler also copied (``name.constprop.0``...; see
    klp/symdb/clones.py): the callers of a copy keep the old code. ``found``: the
    object has ``name`` itself; if not, the problem is where the code went."""
    if not clones:
        return None
    listed = ", ".join(clones)
    if not found:
        return (f"{obj} has {listed}: the compiler copied {name} (constant propagation, "
                "scalar replacement or a split) and its callers use the copy; replace the "
                f'copy (.old_name = "{clones[0]}") or a caller')
    return (f"{obj} also has {listed}, a compiler copy of {name} that some callers use "
            f"instead: the patch replaces {name} only, so those callers keep the old code; "
            "where the fix must reach them, replace the copy too (a klp_func of its own)")


def inlined_copies(name: str, obj: str, callers: Mapping[str, int]) -> str | None:
    """A patched function the compiler also inlined (its DWARF, klp verify
    --debuginfo): livepatch redirects calls to the function, never code already
    copied into its callers, so those keep the old code."""
    if not callers:
        return None
    listed = ", ".join(f"{caller} ({count} copies)" if count > 1 else caller
                       for caller, count in sorted(callers.items()))
    return (f"the compiler also inlined {name} ({obj}) into {listed}: the patch replaces "
            f"{name} only, so code inlined there keeps the old behaviour; where the fix "
            "must reach it, replace those callers too (klp_funcs of their own)")


def prototype_mismatch(old: str, old_signature: Signature, new: str,
                       new_signature: Signature) -> str | None:
    """A replacement whose prototype differs from the function's where the calling
    convention tells (both read from DWARF): livepatch sends the old function's
    callers to the new one with the registers and stack they set up for the old one."""
    why = _calling_difference(old_signature, new_signature, old, new, f"{old}'s callers")
    if why is None:
        return None
    return (f"the replacement {new}{_sizes(new_signature)} does not take the arguments of "
            f"{old}{_sizes(old_signature)} (parameter sizes in bytes, from DWARF): {why}; "
            "the patched kernel would pass them as the old code expects. Give the "
            "replacement the prototype of the target kernel's function")


def call_mismatch(record: SymbolRecord, declared: Signature, defined: Signature) -> str | None:
    """A function the patch calls (a klp symbol) under a prototype of its own, which
    differs from the target's where the calling convention tells: a livepatch declares
    the kernel's static functions by hand, and the kernel's function then reads
    arguments as its own prototype says."""
    callee = f"{record.obj}'s {record.name}"
    why = _calling_difference(declared, defined, "the patch's declaration", callee,
                              "the patch's calls")
    if why is None:
        return None
    return (f"the patch declares {record.name}{_sizes(declared)} and {callee} "
            f"({record.file or '?'}) is {record.name}{_sizes(defined)} (parameter sizes in "
            f"bytes, from DWARF): {why}; declare it with the target kernel's prototype")


def is_code(record: SymbolRecord) -> bool | None:
    """Whether the symbol is a function (its type, else its kallsyms letter); None when
    neither says."""
    if record.type in ("FUNC", "IFUNC"):
        return True
    if record.type in ("OBJECT", "TLS", "COMMON"):
        return False
    letter = record.letter.lower()
    return True if letter in "tw" else False if letter in "dbrgsv" else None


def declared_kind(record: SymbolRecord, function: bool) -> str | None:
    """A symbol the patch declares as a function (and calls) that binds data, or
    declares as a variable of known size that binds code: the position, or the name,
    names another symbol than the patch's code was written for."""
    code = is_code(record)
    if code is None or code == function:
        return None
    declared, found = ("a function", "data") if function else ("a variable", "a function")
    return (f"the patch declares {record.name} as {declared} and the symbol it binds, "
            f"{record.obj}'s {record.name} at position {record.pos} ({record.file or '?'}), "
            f"is {found}: a wrong position or name; the patch would "
            f"{'jump into data' if function else 'read and write code'}")


def declared_size(record: SymbolRecord, size: int) -> str | None:
    """A variable the patch takes from the target (a klp symbol) declared with a type
    larger than the target's object: its reads and writes reach past the object into
    whatever the kernel placed next."""
    if is_code(record) or not record.size or size <= record.size:
        return None
    return (f"the patch declares {record.name} as {size} bytes and {record.obj}'s "
            f"{record.name} ({record.file or '?'}) is {record.size} bytes: the patch's "
            "accesses reach past it, into what the kernel placed next; declare it with the "
            "target kernel's type")


def _sizes(signature: Signature) -> str:
    listed = ", ".join("?" if s is None else str(s) for s in signature.parameters)
    return f"({listed}{', ...' if signature.variadic else ''})"


def _calling_difference(passed: Signature, taken: Signature, passed_name: str,
                        taken_name: str, callers: str) -> str | None:
    """Why code that reads its arguments as ``taken`` says, called as ``passed`` says,
    goes wrong; None where the calling convention makes them agree. Fewer parameters
    are fine (every architecture here lets a callee ignore the trailing arguments its
    caller passed); so is a value returned where none is read."""
    if passed.variadic != taken.variadic:
        return "one of them is variadic"
    if len(taken.parameters) > len(passed.parameters):
        return (f"{taken_name} takes {len(taken.parameters)} parameters and {passed_name} "
                f"{len(passed.parameters)}: {taken_name} reads arguments {callers} never pass")
    for i, (was, now) in enumerate(zip(passed.parameters, taken.parameters, strict=False)):
        if was is not None and now is not None and was != now:
            return f"parameter {i + 1} is {now} bytes in {taken_name} and {was} in {passed_name}"
    if passed.returns != 0 and taken.returns == 0:
        return f"{callers} use what it returns and {taken_name} returns nothing"
    if None not in (passed.returns, taken.returns) and 0 not in (passed.returns, taken.returns) \
            and passed.returns != taken.returns:
        return f"{taken_name} returns {taken.returns} bytes and {passed_name} {passed.returns}"
    return None


def object_registered(obj: str, registered: Collection[str],
                      version: tuple[int, int] | None) -> str | None:
    """The livepatch core applies a module's ``.klp.rela.<obj>.*`` sections only for
    the patch's own klp_objects (kernel/livepatch/core.c klp_apply_object_relocs,
    called from klp_init_object_loaded per object)."""
    if obj in registered:
        return None
    if obj == "vmlinux":
        if version is not None and version >= VMLINUX_RELOCS_EARLY:
            return None
        when = "this kernel applies" if version is not None else "kernels before 5.8 apply"
        return (f"the patch registers no klp_object for vmlinux: {when} "
                ".klp.rela.vmlinux.* only for a registered vmlinux object (.name = NULL)")
    return (f"the patch registers no klp_object for {obj}, so the kernel never applies "
            f".klp.rela.{obj}.* and the patched code would use address 0: add "
            f'{{ .name = "{obj}", .funcs = ... }} to its klp_object array (an empty '
            "klp_func list if it patches no function of it)")


def built_in(name: str, builtin: Collection[str]) -> str | None:
    """Why the object ``name`` never loads: the kernel has it built into vmlinux
    (``builtin``: its modules.builtin), so its symbols and functions are vmlinux's."""
    if name not in builtin:
        return None
    return (f"{name} is built into this kernel's vmlinux (modules.builtin), not a module: no "
            f"module {name} ever loads, and its symbols and functions are vmlinux's")


def registered_name(name: str, known: Collection[str] | None,
                    builtin: Collection[str] = (), running: bool = False
                    ) -> tuple[str, bool] | None:
    """Why a registered klp_object name never matches a loaded module, and whether the
    user may know better (``known`` None: no symbol database to check against;
    ``builtin``: the modules the kernel has built in; ``running``: ``known`` is what
    a running kernel's kallsyms dump and the files beside it have, not a database).

    kernel: klp_find_object_module() looks the name up with find_module(), which
    compares it with struct module's name: KBUILD_MODNAME, the file name without
    ``.ko`` and with '-' as '_' (scripts/Makefile.lib); klp_init_object() refuses
    names of MODULE_NAME_LEN or more.
    """
    if name == "vmlinux":
        return ('klp_object "vmlinux" is a module to the kernel, and none has that name, so '
                "its functions are never patched: vmlinux is .name = NULL"), False
    fixed = name.removesuffix(".ko").replace("-", "_").replace(",", "_")
    if fixed != name:
        return (f'klp_object "{name}" never matches a module: the kernel knows it as '
                f'"{fixed}" (no .ko, and "_" for "-" and ","); write .name = "{fixed}"'), False
    if len(encode_name(name)) > MAX_OBJECT_NAME:
        return (f'klp_object "{name}" is longer than {MAX_OBJECT_NAME} characters: the '
                "kernel refuses it (MODULE_NAME_LEN)"), False
    inside = built_in(name, builtin)
    if inside:
        return (f'klp_object "{name}": {inside}; the patch never applies to it: patch those '
                "functions in the vmlinux klp_object (.name = NULL)"), False
    if known is None or name in known:
        return None
    if running:
        return (f'klp_object "{name}": no module of that name is loaded on the target nor '
                "given with --modules, so klp cannot check that the kernel has it (a typo? "
                "give the target's modules with --modules DIR)"), True
    if not any(k != "vmlinux" for k in known):
        return (f'klp_object "{name}": the symbol database has no modules, so klp cannot '
                "check that the kernel has this one (rebuild it with --modules)"), True
    return (f'klp_object "{name}": the symbol database has no module of that name, so '
            "the patch would never apply to it (a typo? an out-of-tree module the "
            "database lacks: add it to the build)"), True
