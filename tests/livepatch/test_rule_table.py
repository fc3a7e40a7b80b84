"""Every rule in klp.livepatch.rules, one table each: every branch that refuses (or
warns), and the input the kernel accepts at each boundary.

A row's expected outcome is None (the kernel accepts it), ``Says(...)`` (a message that
contains each phrase: what the kernel would do, and what to do about it) or the value
the rule returns. The kernel code each table follows is named above it;
test_rules.py covers module_reload beyond the version boundaries here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from klp.elfcodec.arch import ARCHES
from klp.elfcodec.constants import EM, SHF, SHN, SHT
from klp.elfcodec.elffile import ElfFile, Section
from klp.livepatch import rules
from klp.livepatch.rules import KlpSymbolName
from klp.symdb.model import SymbolRecord
from tests.support.paths import ARCHES as ARCH_NAMES
from tests.support.paths import TESTDATA

X86, ARM64, PPC64, S390 = (ARCHES[m] for m in (EM.X86_64, EM.AARCH64, EM.PPC64, EM.S390))
ARCH = {a.name: a for a in (X86, ARM64, PPC64, S390)}
MOD = "fixture_mod"  # the module the bundled fixture patches
OWN = None  # a section's flags: take the fixture's own section of that name
A, AX, WA = SHF.ALLOC, SHF.ALLOC | SHF.EXECINSTR, SHF.WRITE | SHF.ALLOC
AIO = SHF.ALLOC | SHF.INFO_LINK | SHF.RELA_LIVEPATCH  # readelf "AIo", as kpatch writes it

# Relocation types, numbered as in the ELF ABIs (glibc elf.h; binutils for ppc64's newest)
R_X86_64_NONE, R_X86_64_64, R_X86_64_PC32, R_X86_64_PLT32 = 0, 1, 2, 4
R_X86_64_GOTPCREL, R_X86_64_32, R_X86_64_32S, R_X86_64_16, R_X86_64_8 = 9, 10, 11, 12, 14
R_X86_64_TPOFF32, R_X86_64_PC64, R_X86_64_GOTPCRELX, R_X86_64_REX_GOTPCRELX = 23, 24, 41, 42
R_AARCH64_NULL, R_AARCH64_ABS64, R_AARCH64_PREL64, R_AARCH64_PREL32 = 256, 257, 260, 261
R_AARCH64_MOVW_UABS_G0, R_AARCH64_ADR_PREL_PG_HI21, R_AARCH64_ADD_ABS_LO12_NC = 263, 275, 277
R_AARCH64_CONDBR19, R_AARCH64_JUMP26, R_AARCH64_CALL26 = 280, 282, 283
R_AARCH64_LDST32_ABS_LO12_NC, R_AARCH64_MOVW_PREL_G3, R_AARCH64_LDST128_ABS_LO12_NC = 285, 293, 299
R_AARCH64_MOVW_GOTOFF_G0, R_AARCH64_ADR_GOT_PAGE, R_AARCH64_LD64_GOT_LO12_NC = 300, 311, 312
R_AARCH64_TLSLE_ADD_TPREL_HI12, R_AARCH64_RELATIVE = 549, 1027
R_PPC64_ADDR32, R_PPC64_ADDR16_LO, R_PPC64_REL24, R_PPC64_REL14, R_PPC64_GOT16 = 1, 4, 10, 11, 14
R_PPC64_JMP_SLOT, R_PPC64_REL32, R_PPC64_ADDR64, R_PPC64_REL64 = 21, 26, 38, 44
R_PPC64_TOC16, R_PPC64_TOC16_LO, R_PPC64_TOC16_HI, R_PPC64_TOC16_HA = 47, 48, 49, 50
R_PPC64_TOC16_DS, R_PPC64_TOC16_LO_DS, R_PPC64_TPREL16, R_PPC64_TOCSAVE = 63, 64, 69, 109
R_PPC64_REL24_NOTOC, R_PPC64_PCREL34, R_PPC64_GOT_PCREL34 = 116, 132, 133
R_390_PC32, R_390_PLT32, R_390_COPY, R_390_GLOB_DAT, R_390_JMP_SLOT = 5, 8, 9, 10, 11
R_390_RELATIVE, R_390_GOTOFF32, R_390_PC32DBL, R_390_PLT32DBL, R_390_64 = 12, 13, 19, 20, 22
R_390_PC64, R_390_GOTENT, R_390_GOTPLTENT, R_390_PLTOFF64, R_390_TLS_LOAD = 23, 26, 33, 36, 37
R_390_TLS_TPOFF, R_390_20, R_390_GOT20, R_390_GOTPLT20, R_390_IRELATIVE = 56, 57, 58, 59, 61

# ppc64le instructions (little-endian words)
BL, B = 0x48000001, 0x48000000  # bl / b with a zero offset (the relocation fills it)
NOP, LD_R2 = rules.PPC_NOP, rules.PPC_LD_R2_24_R1  # ld r2,24(r1): what the loader writes
MR_R9_R3, BLR = 0x7C691B78, 0x4E800020
AARCH64_BL = 0x94000000


class Says:
    """A message that contains every phrase (or matches every pattern)."""

    def __init__(self, *phrases: str | re.Pattern[str]) -> None:
        self.phrases = phrases

    def __repr__(self) -> str:
        return f"Says{self.phrases!r}"


def check(got: object, expected: object) -> None:
    if isinstance(expected, Says):
        assert isinstance(got, str), f"expected a message saying {expected.phrases}, got {got!r}"
        for phrase in expected.phrases:
            if isinstance(phrase, re.Pattern):
                assert phrase.search(got), f"{phrase.pattern!r} does not match {got!r}"
            else:
                assert phrase in got, f"{phrase!r} not in {got!r}"
    elif isinstance(expected, tuple) and isinstance(got, tuple):
        assert len(got) == len(expected), got
        for part, want in zip(got, expected, strict=True):
            check(part, want)
    else:
        assert got == expected


def words(*values: int) -> bytes:
    return b"".join(v.to_bytes(4, "little") for v in values)


def fixture(arch: str) -> ElfFile:
    """A fresh copy of the bundled livepatch fixture (a test may add sections to it)."""
    return ElfFile.open(TESTDATA / arch / "livepatch-fixture.ko")


def section(elf: ElfFile, name: str, flags: int | None) -> Section:
    """The fixture's own section ``name`` (flags OWN), or a new PROGBITS one with ``flags``."""
    if flags is OWN:
        found = elf.find_section(name)
        assert found is not None, f"{elf.path} has no {name}"
        return found
    return elf.add_section(name, SHT.PROGBITS, flags=flags)


def contents(arch: str, data: bytes | str) -> bytes:
    """``data`` itself, or the contents of the fixture's section of that name."""
    return section(fixture(arch), data, OWN).data if isinstance(data, str) else data


# -- names ---------------------------------------------------------------------------
# kernel/livepatch/core.c klp_resolve_symbols: sscanf ".klp.sym.%55[^.].%511[^,],%lu"
# (%127 before 6.1, KSYM_NAME_LEN 128); lib/vsprintf.c vsscanf: a %[ match must not be
# empty, %lu skips isspace() (lib/ctype.c: also 0xa0), reads decimal digits only and
# wraps at 2**64; anything after the digits is ignored.

@pytest.mark.parametrize(("version", "expected"), [
    pytest.param(None, 511, id="unknown kernel: the 6.1+ limit, 511"),
    pytest.param((6, 1), 511, id="6.1: KSYM_NAME_LEN 512, %511"),
    pytest.param((6, 12), 511, id="6.12: 511"),
    pytest.param((7, 0), 511, id="7.0: 511"),
    pytest.param((6, 0), 127, id="6.0: KSYM_NAME_LEN 128, %127"),
    pytest.param((5, 10), 127, id="5.10: 127"),
    pytest.param((4, 19), 127, id="4.19: 127"),
])
def test_max_symbol_name(version: tuple[int, int] | None, expected: int) -> None:
    assert rules.max_symbol_name(version) == expected


FORMAT = Says("has an incorrectly formatted name",
              "the kernel reads .klp.sym.<object, at most 55 bytes, no '.'>.<symbol, at most")


def klp_sym(obj: str, name: str, pos: str = "0") -> str:
    return f".klp.sym.{obj}.{name},{pos}"


@pytest.mark.parametrize(("symbol", "version", "expected"), [
    pytest.param(klp_sym("vmlinux", "saved_command_line"), None,
                 KlpSymbolName("vmlinux", "saved_command_line", 0), id="a vmlinux symbol"),
    pytest.param(klp_sym(MOD, "mod_value", "1"), (6, 1), KlpSymbolName(MOD, "mod_value", 1),
                 id="a module symbol at position 1"),
    pytest.param(klp_sym("vmlinux", "fixture_calc.constprop.0", "2"), None,
                 KlpSymbolName("vmlinux", "fixture_calc.constprop.0", 2),
                 id="a symbol name with dots (only the object part stops at '.')"),
    pytest.param(klp_sym("vmlinux", "foo bar"), None, KlpSymbolName("vmlinux", "foo bar", 0),
                 id="a space inside the symbol name (%[^,] takes it)"),
    pytest.param(klp_sym("vmlinux", "\udcff"), None, KlpSymbolName("vmlinux", "\udcff", 0),
                 id="a symbol name that is not UTF-8 (byte 0xff)"),
    pytest.param(klp_sym("fixture-mod", "foo"), None, KlpSymbolName("fixture-mod", "foo", 0),
                 id="an object name with '-' (the format takes it; registered_name does not)"),
    pytest.param(klp_sym("a" * 55, "foo"), None, KlpSymbolName("a" * 55, "foo", 0),
                 id="an object name of 55 bytes, the most %55 reads"),
    pytest.param(klp_sym("vmlinux", "a" * 511), None, KlpSymbolName("vmlinux", "a" * 511, 0),
                 id="a symbol name of 511 bytes, unknown kernel"),
    pytest.param(klp_sym("vmlinux", "a" * 511), (6, 1), KlpSymbolName("vmlinux", "a" * 511, 0),
                 id="a symbol name of 511 bytes on 6.1"),
    pytest.param(klp_sym("vmlinux", "é" * 255 + "a"), (6, 1),
                 KlpSymbolName("vmlinux", "é" * 255 + "a", 0),
                 id="a symbol name of 256 characters in 511 bytes on 6.1"),
    pytest.param(klp_sym("vmlinux", "a" * 127), (6, 0), KlpSymbolName("vmlinux", "a" * 127, 0),
                 id="a symbol name of 127 bytes on 6.0"),
    pytest.param(klp_sym("vmlinux", "foo", "1000"), None, KlpSymbolName("vmlinux", "foo", 1000),
                 id="position 1000 (no limit)"),
    pytest.param(klp_sym("vmlinux", "foo", "007"), None, KlpSymbolName("vmlinux", "foo", 7),
                 id="position with leading zeros"),
    pytest.param(klp_sym("vmlinux", "foo", " 2"), None, KlpSymbolName("vmlinux", "foo", 2),
                 id="a space before the position (%lu skips it)"),
    pytest.param(klp_sym("vmlinux", "foo", "\t\n\v\f\r3"), None,
                 KlpSymbolName("vmlinux", "foo", 3), id="C whitespace before the position"),
    pytest.param(klp_sym("vmlinux", "foo", "\udca04"), None, KlpSymbolName("vmlinux", "foo", 4),
                 id="byte 0xa0 before the position (the kernel's isspace counts it)"),
    pytest.param(klp_sym("vmlinux", "foo", "5 and more"), None,
                 KlpSymbolName("vmlinux", "foo", 5), id="text after the position is ignored"),
    pytest.param(klp_sym("vmlinux", "foo", "6,7"), None, KlpSymbolName("vmlinux", "foo", 6),
                 id="a second comma after the position is ignored"),
    pytest.param(klp_sym("vmlinux", "foo", "0x10"), None, KlpSymbolName("vmlinux", "foo", 0),
                 id="position 0x10 reads as 0 (decimal digits only)"),
    pytest.param(klp_sym("vmlinux", "foo", str(2**64 - 1)), None,
                 KlpSymbolName("vmlinux", "foo", 2**64 - 1), id="position 2**64-1, ULONG_MAX"),
    pytest.param(klp_sym("vmlinux", "foo", str(2**64 + 1)), None,
                 KlpSymbolName("vmlinux", "foo", 1), id="position 2**64+1 wraps to 1"),
    pytest.param("saved_command_line", None, FORMAT, id="no .klp.sym. prefix"),
    pytest.param(".klp.sym.vmlinux", None, FORMAT, id="no symbol part"),
    pytest.param(".klp.sym.vmlinux,0", None, FORMAT, id="no '.' after the object"),
    pytest.param(klp_sym("", "foo"), None, FORMAT, id="an empty object name"),
    pytest.param(klp_sym("vmlinux", ""), None, FORMAT, id="an empty symbol name"),
    pytest.param(klp_sym("a" * 56, "foo"), None, FORMAT,
                 id="an object name of 56 bytes, one over MODULE_NAME_LEN-1"),
    pytest.param(klp_sym("vmlinux", "a" * 512), None, Says(*FORMAT.phrases, "at most 511 bytes"),
                 id="a symbol name one over KSYM_NAME_LEN-1, unknown kernel"),
    pytest.param(klp_sym("vmlinux", "a" * 512), (6, 1), Says("at most 511 bytes"),
                 id="a symbol name one over KSYM_NAME_LEN-1 on 6.1"),
    pytest.param(klp_sym("vmlinux", "é" * 256), (6, 1), Says("at most 511 bytes"),
                 id="a symbol name of 256 characters in 512 bytes on 6.1"),
    pytest.param(klp_sym("vmlinux", "a" * 128), (6, 0), Says(*FORMAT.phrases, "at most 127 bytes"),
                 id="a symbol name one over KSYM_NAME_LEN-1 on 6.0"),
    pytest.param(".klp.sym.vmlinux.foo", None, FORMAT, id="no ',' before the position"),
    pytest.param(klp_sym("vmlinux", "foo", ""), None, FORMAT, id="no position"),
    pytest.param(klp_sym("vmlinux", "foo", " "), None, FORMAT, id="only a space as position"),
    pytest.param(klp_sym("vmlinux", "foo", "-1"), None, FORMAT, id="a negative position"),
    pytest.param(klp_sym("vmlinux", "foo", "+1"), None, FORMAT, id="a position with '+'"),
    pytest.param(klp_sym("vmlinux", "foo", "x1"), None, FORMAT, id="a position that is no number"),
    pytest.param(klp_sym("vmlinux", "foo", "\xa01"), None, FORMAT,
                 id="U+00A0 before the position (UTF-8 0xc2 0xa0: 0xc2 is no space)"),
    pytest.param(".KLP.SYM.vmlinux.foo,0", None, FORMAT, id="the prefix in capitals"),
])
def test_parse_klp_symbol(symbol: str, version: tuple[int, int] | None, expected: object) -> None:
    check(rules.parse_klp_symbol(symbol, version), expected)


# kernel/livepatch/core.c klp_write_section_relocs: sscanf ".klp.rela.%55[^.]"; the rest
# of the name is ignored (the target is sh_info), a longer object is cut at 55 bytes.

@pytest.mark.parametrize(("name", "expected"), [
    pytest.param(".klp.rela.vmlinux..text", "vmlinux", id="vmlinux, kpatch style"),
    pytest.param(".klp.rela.vmlinux.text", "vmlinux", id="vmlinux, minimal klp-convert style"),
    pytest.param(f".klp.rela.{MOD}..toc", MOD, id="a module's .toc"),
    pytest.param(f".klp.rela.{MOD}..text.unlikely", MOD, id="a module, dotted section name"),
    pytest.param(".klp.rela.vmlinux", "vmlinux", id="no section part (sh_info names it)"),
    pytest.param(".klp.rela.fixture-mod..text", "fixture-mod", id="an object name with '-'"),
    pytest.param(f".klp.rela.{'a' * 55}..text", "a" * 55, id="an object name of 55 bytes"),
    pytest.param(f".klp.rela.{'a' * 60}..text", "a" * 55,
                 id="an object name of 60 bytes is cut at 55, as sscanf does"),
    pytest.param(".klp.rela..text", None, id="an empty object name"),
    pytest.param(".klp.rela.", None, id="nothing after the prefix"),
    pytest.param(".klp.rela", None, id="the prefix without its last dot"),
    pytest.param(".klp.relavmlinux..text", None, id="no dot after .klp.rela"),
    pytest.param(".rela.text", None, id="a plain relocation section"),
    pytest.param(" .klp.rela.vmlinux..text", None, id="a space before the prefix"),
])
def test_parse_klp_section(name: str, expected: str | None) -> None:
    assert rules.parse_klp_section(name) == expected


# include/linux/module.h MODULE_NAME_LEN 56 (a 55-byte name and its NUL); '.' ends the
# object part of both .klp patterns.

@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param("vmlinux", None, id="vmlinux"),
    pytest.param(MOD, None, id="a module"),
    pytest.param("a" * 55, None, id="55 bytes, MODULE_NAME_LEN-1"),
    pytest.param("a" * 53 + "é", None, id="54 characters in 55 bytes"),
    pytest.param("fixture-mod", None,
                 id="a '-' (the format takes it; registered_name says the module has '_')"),
    pytest.param("a" * 56, Says("longer than 55"), id="56 bytes, one over"),
    pytest.param("a" * 54 + "é", Says("longer than 55"), id="55 characters in 56 bytes"),
    pytest.param("fixture.mod", Says("contains '.'", "which the kernel cannot parse"),
                 id="a '.' in the name"),
    pytest.param(f"{MOD}.ko", Says("contains '.'"), id="the module's file name"),
    pytest.param("", Says("empty"), id="an empty name"),
])
def test_object_name(obj: str, expected: object) -> None:
    check(rules.object_name(obj), expected)


@pytest.mark.parametrize(("name", "version", "expected"), [
    pytest.param("saved_command_line", None, None, id="a plain name"),
    pytest.param("fixture_calc.constprop.0", (6, 1), None, id="a name with dots"),
    pytest.param("a" * 511, None, None, id="511 bytes, unknown kernel"),
    pytest.param("a" * 511, (6, 1), None, id="511 bytes on 6.1"),
    pytest.param("a" * 128, (6, 1), None, id="128 bytes on 6.1"),
    pytest.param("é" * 255 + "a", (6, 1), None, id="256 characters in 511 bytes on 6.1"),
    pytest.param("a" * 127, (6, 0), None, id="127 bytes on 6.0"),
    pytest.param("a" * 512, None, Says("longer than 511 bytes", "KSYM_NAME_LEN of this kernel"),
                 id="name one over KSYM_NAME_LEN-1, unknown kernel"),
    pytest.param("a" * 512, (6, 1), Says("longer than 511 bytes"),
                 id="name one over KSYM_NAME_LEN-1 on 6.1"),
    pytest.param("é" * 256, (6, 1), Says("longer than 511 bytes"),
                 id="256 characters in 512 bytes on 6.1"),
    pytest.param("a" * 128, (6, 0), Says("longer than 127 bytes", "KSYM_NAME_LEN"),
                 id="name one over KSYM_NAME_LEN-1 on 6.0"),
    pytest.param("a" * 128, (5, 10), Says("longer than 127 bytes"),
                 id="name one over KSYM_NAME_LEN-1 on 5.10"),
    pytest.param("foo,1", None, Says("contains ','", "ends the name in .klp.sym.<obj>.<sym>,<pos>"),
                 id="a ',' in the name"),
    pytest.param("", None, Says("empty"), id="an empty name"),
])
def test_symbol_name(name: str, version: tuple[int, int] | None, expected: object) -> None:
    check(rules.symbol_name(name, version), expected)


# klp convert leaves these names alone (plan.py, lookup.py use fullmatch): the linker
# resolves LINKER_PROVIDED in the module, the loader or vmlinux KERNEL_PROVIDED
# (arch/powerpc/kernel/module_64.c is_mprofile_ftrace_call: _mcount, ftrace_caller,
# ftrace_regs_caller by name).

@pytest.mark.parametrize(("name", "expected"), [
    pytest.param(".TOC.", "linker", id="ppc64 .TOC."),
    pytest.param("_GLOBAL_OFFSET_TABLE_", "linker", id="s390x _GLOBAL_OFFSET_TABLE_"),
    pytest.param("_mcount", "kernel", id="ppc64 _mcount"),
    pytest.param("ftrace_caller", "kernel", id="ppc64 ftrace_caller"),
    pytest.param("ftrace_regs_caller", "kernel", id="ppc64 ftrace_regs_caller"),
    pytest.param("__fentry__", "kernel", id="x86_64 and s390x __fentry__"),
    pytest.param("__x86_return_thunk", "kernel", id="x86_64 return thunk"),
    pytest.param("__x86_indirect_thunk_rax", "kernel", id="x86_64 retpoline thunk"),
    pytest.param("__x86_indirect_call_thunk_r11", "kernel", id="x86_64 call depth thunk"),
    pytest.param("__x86_indirect_jump_thunk_rax", "kernel", id="x86_64 jump thunk"),
    pytest.param("__s390_indirect_jump_r14", "kernel", id="s390 expoline"),
    pytest.param("__s390x_indirect_jump_r14", "kernel", id="s390x expoline"),
    pytest.param("fixture_state", None, id="a plain symbol"),
    pytest.param("mcount", None, id="mcount without its underscore"),
    pytest.param("my_ftrace_caller", None, id="a name that only contains ftrace_caller"),
    pytest.param("__fentry__x", None, id="a name that only starts with __fentry__"),
    pytest.param("ftrace_lock", None, id="a vmlinux variable named ftrace_*"),
])
def test_names_never_converted(name: str, expected: str | None) -> None:
    linker = rules.LINKER_PROVIDED.fullmatch(name)
    kernel = rules.KERNEL_PROVIDED.fullmatch(name)
    assert ("linker" if linker else "kernel" if kernel else None) == expected


# -- sections ------------------------------------------------------------------------
# kernel/module/main.c apply_relocations: a RELA section whose sh_info is out of range or
# names a section without SHF_ALLOC is skipped; rewrite_section_headers clears SHF_ALLOC
# of .modinfo and __versions, layout_and_allocate that of .data..percpu.

Build = Callable[[ElfFile], Section]


def own(name: str) -> Build:
    return lambda elf: section(elf, name, OWN)


def rela_for(target: str, flags: int | None = OWN) -> Build:
    """A new RELA section for ``target`` (the fixture's own, or new with ``flags``)."""
    return lambda elf: elf.add_rela_section(f".rela{target}", section(elf, target, flags))


def rela_info(info: Callable[[ElfFile], int]) -> Build:
    return lambda elf: elf.add_section(".rela.nowhere", SHT.RELA, flags=SHF.INFO_LINK,
                                       link=elf.symtab_section.index, info=info(elf))



@pytest.mark.parametrize(("arch", "build", "expected"), [
    pytest.param("x86_64", own(".rela.text"), ".text", id="x86_64 .text"),
    pytest.param("x86_64", own(".rela.init.text"), ".init.text", id="x86_64 .init.text"),
    pytest.param("x86_64", own(".rela__mcount_loc"), "__mcount_loc", id="x86_64 __mcount_loc"),
    pytest.param("arm64", own(".rela.rodata"), ".rodata", id="arm64 .rodata"),
    pytest.param("ppc64le", own(".rela.toc"), ".toc", id="ppc64le .toc"),
    pytest.param("s390x", own(".rela.data.rel.ro"), ".data.rel.ro", id="s390x .data.rel.ro"),
    pytest.param("s390x", rela_for(".bss"), ".bss", id="s390x .bss (NOBITS, allocated)"),
    pytest.param("x86_64", rela_for(".comment"), None, id="a target without SHF_ALLOC (.comment)"),
    pytest.param("arm64", rela_for(".debug_info", 0), None, id="debug info"),
    pytest.param("x86_64", rela_info(lambda elf: 0), None, id="sh_info 0, the null section"),
    pytest.param("x86_64", rela_info(lambda elf: len(elf.sections)), None,
                 id="sh_info one past the last section"),
    pytest.param("x86_64", rela_for(".modinfo"), None, id=".modinfo"),
    pytest.param("x86_64", rela_for("__versions", A), None, id="__versions"),
    pytest.param("x86_64", rela_for(".data..percpu", WA), None, id=".data..percpu"),
])
def test_loaded_target(arch: str, build: Build, expected: str | None) -> None:
    elf = fixture(arch)
    target = rules.loaded_target(elf, build(elf))
    assert (target.name if target is not None else None) == expected


# kernel/livepatch/core.c: .klp.rela.<module>.* is applied when the module loads
# (klp_module_coming) or the patch is enabled: after the patch's init sections are
# freed and after module_finalize processed its special sections. vmlinux ones are
# applied while the patch loads (kernel/module/main.c apply_relocations, 5.8+).
# kernel/module/main.c module_init_layout_section: .init* is freed after init, .exit*
# only without CONFIG_MODULE_UNLOAD.

FREED = Says("is freed after the patch loads (except on ppc64)",
             f"a relocation for module {MOD} is applied later")


def processed(name: str) -> Says:
    return Says(f"{name} is processed when the patch loads",
                f"before module {MOD}'s relocations are applied",
                "only vmlinux symbols are allowed there")


SPECIAL = [  # (arch that has it, section, flags: OWN when the fixture has it)
    ("x86_64", "__jump_table", OWN), ("arm64", "__jump_table", OWN),
    ("x86_64", ".static_call_sites", WA), ("x86_64", ".altinstructions", A),
    ("x86_64", ".altinstr_replacement", AX), ("x86_64", ".parainstructions", A),
    ("x86_64", "__bug_table", WA), ("s390x", "__ex_table", A), ("x86_64", ".smp_locks", A),
    ("ppc64le", "__ftr_fixup", A), ("ppc64le", "__mmu_ftr_fixup", A),
    ("ppc64le", "__fw_ftr_fixup", A), ("ppc64le", "__lwsync_fixup", A),
]


@pytest.mark.parametrize(("arch", "name", "flags", "obj", "expected"), [
    pytest.param("x86_64", ".text", OWN, "vmlinux", None, id="vmlinux into .text"),
    pytest.param("x86_64", ".init.text", OWN, "vmlinux", None,
                 id="vmlinux into .init.text (applied before init is freed)"),
    pytest.param("x86_64", "__jump_table", OWN, "vmlinux", None,
                 id="vmlinux into __jump_table (applied before it is processed)"),
    pytest.param("x86_64", ".text", OWN, MOD, None, id="module into .text"),
    pytest.param("x86_64", ".rodata", OWN, MOD, None, id="module into .rodata"),
    pytest.param("x86_64", ".data..read_mostly", OWN, MOD, None,
                 id="module into .data..read_mostly"),
    pytest.param("ppc64le", ".toc", OWN, MOD, None, id="module into .toc"),
    pytest.param("x86_64", "__bug_table_extra", A, MOD, None,
                 id="module into a section whose name only starts like __bug_table"),
    pytest.param("x86_64", ".init.text", OWN, MOD, Says(".init.text", *FREED.phrases),
                 id="module into .init.text"),
    pytest.param("arm64", ".init.text", OWN, MOD, FREED, id="module into arm64 .init.text"),
    pytest.param("x86_64", ".init.rodata", A, MOD, FREED, id="module into .init.rodata"),
    pytest.param("x86_64", ".init.data", WA, MOD, FREED, id="module into .init.data"),
    pytest.param("x86_64", ".init_array", WA, MOD, FREED,
                 id="module into .init_array (any .init prefix is init)"),
    pytest.param("x86_64", ".exit.text", OWN, MOD, None, id="module into .exit.text"),
    *(pytest.param(arch, name, flags, MOD, processed(name), id=f"module into {name} ({arch})")
      for arch, name, flags in SPECIAL),
    pytest.param("x86_64", "__jump_table.extra", WA, MOD, processed("__jump_table.extra"),
                 id="module into a __jump_table. sub-section"),
])
def test_target_section(arch: str, name: str, flags: int | None, obj: str,
                        expected: object) -> None:
    check(rules.target_section(section(fixture(arch), name, flags), obj), expected)


def test_special_sections_are_all_in_the_table() -> None:
    assert {name for _, name, _ in SPECIAL} == set(rules.SPECIAL_SECTIONS)


# kernel/module/main.c apply_relocations applies a SHF_RELA_LIVEPATCH section through
# livepatch, any other RELA section as a plain one; Documentation/livepatch/
# module-elf-format.rst: klp sections are SHF_ALLOC (kept after the load image is freed).

@pytest.mark.parametrize(("sh_type", "flags", "expected"), [
    pytest.param(SHT.RELA, AIO, None, id="RELA, AIo, as kpatch writes it"),
    pytest.param(SHT.RELA, SHF.ALLOC | SHF.RELA_LIVEPATCH, None,
                 id="RELA without SHF_INFO_LINK (the kernel does not read it)"),
    pytest.param(SHT.RELA, AIO | SHF.WRITE, None, id="RELA with SHF_WRITE as well"),
    pytest.param(SHT.REL, AIO, Says("is not SHT_RELA"), id="SHT_REL"),
    pytest.param(SHT.PROGBITS, AIO, Says("is not SHT_RELA"), id="SHT_PROGBITS"),
    pytest.param(SHT.RELA, SHF.ALLOC | SHF.INFO_LINK,
                 Says("lacks SHF_RELA_LIVEPATCH", "would apply it as a plain relocation section",
                      "klp symbols whose value is 0"), id="RELA without SHF_RELA_LIVEPATCH"),
    pytest.param(SHT.RELA, SHF.INFO_LINK | SHF.RELA_LIVEPATCH,
                 Says("lacks SHF_ALLOC", "the load image, which is freed before a "
                      "module-specific section is applied"), id="RELA without SHF_ALLOC"),
    pytest.param(SHT.RELA, 0, Says("lacks SHF_RELA_LIVEPATCH"),
                 id="RELA without either flag: the first one missing"),
])
def test_klp_section(sh_type: int, flags: int, expected: object) -> None:
    elf = fixture("x86_64")
    text = section(elf, ".text", OWN)
    sec = elf.add_section(f".klp.rela.{MOD}..text", sh_type, flags=flags,
                          link=elf.symtab_section.index, info=text.index)
    check(rules.klp_section(sec), expected)


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_a_plain_rela_section_is_no_klp_section(arch: str) -> None:
    """The fixture's own .rela.text, as the compiler wrote it."""
    check(rules.klp_section(section(fixture(arch), ".rela.text", OWN)),
          Says("lacks SHF_RELA_LIVEPATCH"))


# kernel/module/main.c: a section index >= SHN_LORESERVE (0xff00) collides with the
# reserved ones (SHN_LIVEPATCH 0xff20, SHN_ABS...); no extended numbering.

@pytest.mark.parametrize(("shnum", "expected"), [
    pytest.param(len(fixture("x86_64").sections), None, id="as many sections as the fixture has"),
    pytest.param(SHN.LORESERVE - 1, None, id="0xfeff sections, the most"),
    pytest.param(SHN.LORESERVE, Says("65280 sections", "the module loader needs fewer than 0xff00"),
                 id="0xff00 sections, one over"),
    pytest.param(SHN.LIVEPATCH, Says("fewer than 0xff00"), id="as many as SHN_LIVEPATCH"),
    pytest.param(0x10000, Says("fewer than 0xff00"), id="0x10000 sections"),
])
def test_section_count(shnum: int, expected: object) -> None:
    check(rules.section_count(shnum), expected)


# -- relocations ---------------------------------------------------------------------
# The types each apply_relocate_add accepts: arch/x86/kernel/module.c
# __write_relocate_add, arch/arm64/kernel/module.c, arch/powerpc/kernel/module_64.c,
# arch/s390/kernel/module.c apply_rela; ppc64's TOC16 types are relative to the
# module's own TOC (my_r2), meaningless for a kernel symbol.

def unknown(name: str, arch: str) -> Says:
    return Says(name, f"is not a type the {arch} module loader applies")


def own_toc(name: str) -> Says:
    return Says(name, "relative to the livepatch's own TOC", "cannot reach a kernel symbol")


@pytest.mark.parametrize(("arch", "rtype", "expected"), [
    pytest.param("x86_64", R_X86_64_NONE, None, id="x86_64 NONE, which the loader skips"),
    pytest.param("x86_64", R_X86_64_64, None, id="x86_64 64, a pointer in data"),
    pytest.param("x86_64", R_X86_64_PC32, None, id="x86_64 PC32, rip-relative data"),
    pytest.param("x86_64", R_X86_64_PLT32, None, id="x86_64 PLT32, a call"),
    pytest.param("x86_64", R_X86_64_32, None, id="x86_64 32"),
    pytest.param("x86_64", R_X86_64_32S, None, id="x86_64 32S, mcmodel=kernel addresses"),
    pytest.param("x86_64", R_X86_64_PC64, None, id="x86_64 PC64, a relative table"),
    pytest.param("x86_64", R_X86_64_GOTPCREL, unknown("R_X86_64_GOTPCREL", "x86_64"),
                 id="x86_64 GOTPCREL (-fPIC)"),
    pytest.param("x86_64", R_X86_64_GOTPCRELX, unknown("R_X86_64_GOTPCRELX", "x86_64"),
                 id="x86_64 GOTPCRELX"),
    pytest.param("x86_64", R_X86_64_REX_GOTPCRELX,
                 unknown("R_X86_64_REX_GOTPCRELX", "x86_64"), id="x86_64 REX_GOTPCRELX"),
    pytest.param("x86_64", R_X86_64_16, unknown("R_X86_64_16", "x86_64"), id="x86_64 16"),
    pytest.param("x86_64", R_X86_64_8, unknown("R_X86_64_8", "x86_64"), id="x86_64 8"),
    pytest.param("x86_64", R_X86_64_TPOFF32, unknown("R_X86_64_TPOFF32", "x86_64"),
                 id="x86_64 TPOFF32, TLS"),
    pytest.param("arm64", 0, None, id="arm64 R_ARM_NONE 0"),
    pytest.param("arm64", R_AARCH64_NULL, None, id="arm64 NONE 256"),
    pytest.param("arm64", R_AARCH64_ABS64, None, id="arm64 ABS64, a pointer in data"),
    pytest.param("arm64", R_AARCH64_PREL32, None, id="arm64 PREL32, a relative table"),
    pytest.param("arm64", R_AARCH64_PREL64, None, id="arm64 PREL64"),
    pytest.param("arm64", R_AARCH64_ADR_PREL_PG_HI21, None, id="arm64 ADR_PREL_PG_HI21, adrp"),
    pytest.param("arm64", R_AARCH64_ADD_ABS_LO12_NC, None, id="arm64 ADD_ABS_LO12_NC"),
    pytest.param("arm64", R_AARCH64_LDST32_ABS_LO12_NC, None, id="arm64 LDST32_ABS_LO12_NC"),
    pytest.param("arm64", R_AARCH64_LDST128_ABS_LO12_NC, None, id="arm64 LDST128_ABS_LO12_NC"),
    pytest.param("arm64", R_AARCH64_CALL26, None, id="arm64 CALL26, a call"),
    pytest.param("arm64", R_AARCH64_JUMP26, None, id="arm64 JUMP26, a tail call"),
    pytest.param("arm64", R_AARCH64_CONDBR19, None, id="arm64 CONDBR19"),
    pytest.param("arm64", R_AARCH64_MOVW_UABS_G0, None, id="arm64 MOVW_UABS_G0"),
    pytest.param("arm64", R_AARCH64_MOVW_PREL_G3, None, id="arm64 MOVW_PREL_G3"),
    pytest.param("arm64", 281, unknown("unrecognized: 119", "arm64"),
                 id="arm64 281, unassigned between CONDBR19 and JUMP26"),
    pytest.param("arm64", R_AARCH64_MOVW_GOTOFF_G0, unknown("R_AARCH64_MOVW_GOTOFF_G0", "arm64"),
                 id="arm64 MOVW_GOTOFF_G0"),
    pytest.param("arm64", R_AARCH64_ADR_GOT_PAGE, unknown("R_AARCH64_ADR_GOT_PAGE", "arm64"),
                 id="arm64 ADR_GOT_PAGE (-fPIC)"),
    pytest.param("arm64", R_AARCH64_LD64_GOT_LO12_NC,
                 unknown("R_AARCH64_LD64_GOT_LO12_NC", "arm64"), id="arm64 LD64_GOT_LO12_NC"),
    pytest.param("arm64", R_AARCH64_TLSLE_ADD_TPREL_HI12,
                 unknown("R_AARCH64_TLSLE_ADD_TPREL_HI12", "arm64"), id="arm64 TLS"),
    pytest.param("arm64", R_AARCH64_RELATIVE, unknown("R_AARCH64_RELATIVE", "arm64"),
                 id="arm64 RELATIVE, dynamic"),
    pytest.param("ppc64le", R_PPC64_REL24, None, id="ppc64le REL24, a call"),
    pytest.param("ppc64le", R_PPC64_REL24_NOTOC, None, id="ppc64le REL24_NOTOC, a PCREL call"),
    pytest.param("ppc64le", R_PPC64_ADDR64, None, id="ppc64le ADDR64, a .toc slot"),
    pytest.param("ppc64le", R_PPC64_ADDR32, None, id="ppc64le ADDR32"),
    pytest.param("ppc64le", R_PPC64_REL32, None, id="ppc64le REL32, a relative table"),
    pytest.param("ppc64le", R_PPC64_REL64, None, id="ppc64le REL64"),
    pytest.param("ppc64le", R_PPC64_PCREL34, None, id="ppc64le PCREL34"),
    pytest.param("ppc64le", R_PPC64_GOT_PCREL34, None, id="ppc64le GOT_PCREL34"),
    pytest.param("ppc64le", R_PPC64_TOCSAVE, None, id="ppc64le TOCSAVE"),
    pytest.param("ppc64le", R_PPC64_TOC16, own_toc("R_PPC64_TOC16"), id="ppc64le TOC16"),
    pytest.param("ppc64le", R_PPC64_TOC16_LO, own_toc("R_PPC64_TOC16_LO"), id="ppc64le TOC16_LO"),
    pytest.param("ppc64le", R_PPC64_TOC16_HA, own_toc("R_PPC64_TOC16_HA"),
                 id="ppc64le TOC16_HA, not even range-checked"),
    pytest.param("ppc64le", R_PPC64_TOC16_DS, own_toc("R_PPC64_TOC16_DS"), id="ppc64le TOC16_DS"),
    pytest.param("ppc64le", R_PPC64_TOC16_LO_DS, own_toc("R_PPC64_TOC16_LO_DS"),
                 id="ppc64le TOC16_LO_DS, the medium model's direct access"),
    pytest.param("ppc64le", R_PPC64_TOC16_HI, unknown("R_PPC64_TOC16_HI", "ppc64le"),
                 id="ppc64le TOC16_HI, which the loader refuses first"),
    pytest.param("ppc64le", R_PPC64_ADDR16_LO, unknown("R_PPC64_ADDR16_LO", "ppc64le"),
                 id="ppc64le ADDR16_LO"),
    pytest.param("ppc64le", R_PPC64_REL14, unknown("R_PPC64_REL14", "ppc64le"),
                 id="ppc64le REL14, a conditional branch"),
    pytest.param("ppc64le", R_PPC64_GOT16, unknown("R_PPC64_GOT16", "ppc64le"), id="ppc64le GOT16"),
    pytest.param("ppc64le", R_PPC64_TPREL16, unknown("R_PPC64_TPREL16", "ppc64le"),
                 id="ppc64le TPREL16, TLS"),
    pytest.param("ppc64le", R_PPC64_JMP_SLOT, unknown("R_PPC64_JMP_SLOT", "ppc64le"),
                 id="ppc64le JMP_SLOT, dynamic"),
    pytest.param("s390x", R_390_64, None, id="s390x 64, a pointer in data"),
    pytest.param("s390x", R_390_PC32DBL, None, id="s390x PC32DBL, a hidden extern"),
    pytest.param("s390x", R_390_PLT32DBL, None, id="s390x PLT32DBL, a call"),
    pytest.param("s390x", R_390_GOTENT, None, id="s390x GOTENT, data through the GOT"),
    pytest.param("s390x", R_390_GOTPLTENT, None, id="s390x GOTPLTENT"),
    pytest.param("s390x", R_390_PC32, None, id="s390x PC32, a relative table"),
    pytest.param("s390x", R_390_PC64, None, id="s390x PC64"),
    pytest.param("s390x", R_390_PLT32, None, id="s390x PLT32, just below COPY"),
    pytest.param("s390x", R_390_GOTOFF32, None, id="s390x GOTOFF32, just above RELATIVE"),
    pytest.param("s390x", R_390_PLTOFF64, None, id="s390x PLTOFF64, the last of 0..36"),
    pytest.param("s390x", R_390_20, None, id="s390x 20"),
    pytest.param("s390x", R_390_GOT20, None, id="s390x GOT20"),
    pytest.param("s390x", R_390_GOTPLT20, None, id="s390x GOTPLT20"),
    pytest.param("s390x", R_390_COPY, unknown("R_390_COPY", "s390x"), id="s390x COPY"),
    pytest.param("s390x", R_390_GLOB_DAT, unknown("R_390_GLOB_DAT", "s390x"), id="s390x GLOB_DAT"),
    pytest.param("s390x", R_390_JMP_SLOT, unknown("R_390_JMP_SLOT", "s390x"), id="s390x JMP_SLOT"),
    pytest.param("s390x", R_390_RELATIVE, unknown("R_390_RELATIVE", "s390x"), id="s390x RELATIVE"),
    pytest.param("s390x", R_390_TLS_LOAD, unknown("R_390_TLS_LOAD", "s390x"),
                 id="s390x TLS_LOAD, the first after 0..36"),
    pytest.param("s390x", R_390_TLS_TPOFF, unknown("R_390_TLS_TPOFF", "s390x"), id="s390x TLS"),
    pytest.param("s390x", R_390_IRELATIVE, unknown("R_390_IRELATIVE", "s390x"),
                 id="s390x IRELATIVE"),
])
def test_relocation_type(arch: str, rtype: int, expected: object) -> None:
    check(rules.relocation_type(ARCH[arch], rtype), expected)


# arch/powerpc/kernel/module_64.c apply_relocate_add, R_PPC_REL24 to a SHN_LIVEPATCH
# symbol goes through a stub; restore_r2: a linking branch (bl) must be followed by a nop
# ("Expected nop after call"), or ld r2,24(r1) since 6.3; a b (sibling call) needs nothing.

NO_NOP = Says("not a nop", "the kernel needs one to restore r2 after a call through a stub",
              "(a call local to the object?)")
AT_END = Says("REL24 at the end of its section", "no room for the nop the loader needs")


@pytest.mark.parametrize(("arch", "rtype", "data", "offset", "expected"), [
    pytest.param("ppc64le", R_PPC64_REL24, ".text", 0x68, None,
                 id="bl fixture_mod_nonexp; nop (the fixture's .text)"),
    pytest.param("ppc64le", R_PPC64_REL24, ".text.unlikely", 0x2C, None,
                 id="bl fixture_cold_path; nop (the fixture's .text.unlikely)"),
    pytest.param("ppc64le", R_PPC64_REL24, words(BL, LD_R2), 0, None,
                 id="bl; ld r2,24(r1), as a previous load left it"),
    pytest.param("ppc64le", R_PPC64_REL24, words(B, MR_R9_R3), 0, None,
                 id="b, a sibling call, followed by anything"),
    pytest.param("ppc64le", R_PPC64_REL24, words(MR_R9_R3, BL, NOP), 4, None,
                 id="bl; nop ending exactly at the end of the section"),
    pytest.param("ppc64le", R_PPC64_REL24, ".text", 0x17C, Says("0x7c691b78", *NO_NOP.phrases),
                 id="bl lp_extra; mr r9,r3, a call local to the patch (the fixture's .text)"),
    pytest.param("ppc64le", R_PPC64_REL24, ".text", 0x1BC, Says("0x4bffff40", *NO_NOP.phrases),
                 id="bl lp_cold; b (the fixture's .text)"),
    pytest.param("ppc64le", R_PPC64_REL24, words(BL, BLR), 0, Says("bl is followed by 0x4e800020"),
                 id="bl; blr"),
    pytest.param("ppc64le", R_PPC64_REL24, words(MR_R9_R3, BL), 4, AT_END,
                 id="bl as the last instruction of its section"),
    pytest.param("ppc64le", R_PPC64_REL24, words(BL) + b"\0\0", 0, AT_END,
                 id="bl with two bytes after it"),
    pytest.param("ppc64le", R_PPC64_REL24, words(MR_R9_R3, B), 4, None,
                 id="b as the last instruction of its section"),
    pytest.param("ppc64le", R_PPC64_REL24_NOTOC, words(BL, MR_R9_R3), 0, None,
                 id="REL24_NOTOC bl without nop (PCREL: no TOC to restore)"),
    pytest.param("ppc64le", R_PPC64_ADDR64, words(BL, MR_R9_R3), 0, None,
                 id="ADDR64 over words that look like bl; mr"),
    pytest.param("x86_64", R_X86_64_32, words(BL, MR_R9_R3), 0, None,
                 id="x86_64 type 10 is R_X86_64_32, not REL24"),
    pytest.param("s390x", R_390_GLOB_DAT, words(BL, MR_R9_R3), 0, None,
                 id="s390x type 10 is GLOB_DAT, not REL24"),
    pytest.param("arm64", R_AARCH64_CALL26, words(AARCH64_BL, 0xD503201F), 0, None,
                 id="arm64 CALL26 needs no nop"),
])
def test_ppc64_call_has_nop(arch: str, rtype: int, data: bytes | str, offset: int,
                            expected: object) -> None:
    check(rules.ppc64_call_has_nop(ARCH[arch], rtype, contents(arch, data), offset), expected)


# arch/x86/kernel/module.c __write_relocate_add: "Invalid relocation target, existing
# value is nonzero" when any of the 4 or 8 bytes it writes is not zero; other
# architectures splice instruction fields or overwrite data without looking.

def nonzero(width: int) -> Says:
    return Says(f"the {width} bytes it writes are not zero",
                "existing value is nonzero", "the field was written over")


@pytest.mark.parametrize(("arch", "rtype", "data", "offset", "expected"), [
    pytest.param("x86_64", R_X86_64_PC32, ".text", 0x1B, None,
                 id="PC32 mod_value, as the compiler left it (the fixture's .text)"),
    pytest.param("x86_64", R_X86_64_PLT32, ".text", 0x20, None,
                 id="PLT32 fixture_mod_nonexp (the fixture's .text)"),
    pytest.param("x86_64", R_X86_64_64, ".rodata", 0x8, None,
                 id="64 fixture_state in the fixture's .rodata"),
    pytest.param("x86_64", R_X86_64_PC64, "__jump_table", 0x8, None,
                 id="PC64 fixture_key in the fixture's __jump_table"),
    pytest.param("x86_64", R_X86_64_PC32, ".text", 0x18, nonzero(4),
                 id="PC32 over the instruction's opcode bytes (the fixture's .text+0x18)"),
    pytest.param("x86_64", R_X86_64_PC32, bytes([0, 0, 0, 1]), 0, nonzero(4),
                 id="PC32 with its fourth byte set"),
    pytest.param("x86_64", R_X86_64_PLT32, bytes([0xFC, 0xFF, 0xFF, 0xFF]), 0, nonzero(4),
                 id="PLT32 with the addend -4 written into the field (REL style)"),
    pytest.param("x86_64", R_X86_64_PC32, bytes([0, 0, 0, 0, 1]), 0, None,
                 id="PC32 with the byte after its field set"),
    pytest.param("x86_64", R_X86_64_PC32, bytes([1, 0, 0, 0, 0]), 1, None,
                 id="PC32 with the byte before its field set"),
    pytest.param("x86_64", R_X86_64_32S, bytes([0, 0, 1, 0]), 0, nonzero(4), id="32S set"),
    pytest.param("x86_64", R_X86_64_32, bytes([1, 0, 0, 0]), 0, nonzero(4), id="32 set"),
    pytest.param("x86_64", R_X86_64_64, bytes(7) + b"\x01", 0, nonzero(8),
                 id="64 with its eighth byte set"),
    pytest.param("x86_64", R_X86_64_PC64, bytes(4) + b"\x01" + bytes(3), 0, nonzero(8),
                 id="PC64 with its fifth byte set"),
    pytest.param("x86_64", R_X86_64_64, bytes(8) + b"\x01", 0, None,
                 id="64 with the byte after its 8 set"),
    pytest.param("x86_64", R_X86_64_NONE, b"\xff" * 8, 0, None, id="NONE writes nothing"),
    pytest.param("arm64", R_AARCH64_CALL26, words(AARCH64_BL), 0, None,
                 id="arm64 CALL26 over its bl (the opcode stays)"),
    pytest.param("arm64", R_AARCH64_ABS64, b"\xff" * 8, 0, None, id="arm64 ABS64 over data"),
    pytest.param("ppc64le", R_PPC64_REL24, words(BL, NOP), 0, None, id="ppc64le REL24 over its bl"),
    pytest.param("s390x", R_390_64, b"\xff" * 8, 0, None, id="s390x 64 over data"),
    pytest.param("s390x", R_390_PLT32DBL, b"\xff" * 4, 0, None, id="s390x PLT32DBL"),
])
def test_x86_target_is_zero(arch: str, rtype: int, data: bytes | str, offset: int,
                            expected: object) -> None:
    check(rules.x86_target_is_zero(ARCH[arch], rtype, contents(arch, data), offset), expected)


# Late (module-specific) relocations are written after the patch's text and rodata are
# read-only, and .data..ro_after_init too when the module loads after the patch
# (kernel/module/main.c do_init_module, module_enable_rodata_ro_after_init). x86_64
# writes them with text_poke, s390x with s390_kernel_write, ppc64 REL24 with
# patch_instruction, its other types and every arm64 type with plain stores
# (arch/arm64/kernel/module.c; kpatch issues #1216, #1439).

def late(name: str) -> tuple[Says, bool]:
    """arm64's warning (kernels that load livepatches there patch text)."""
    return (Says(f"arm64 writes module {MOD}'s relocations into {name} after it is read-only",
                 "kernels without a text-patching path fault when the module loads"), False)


@pytest.mark.parametrize(("arch", "name", "flags", "obj", "expected"), [
    pytest.param("arm64", ".text", OWN, MOD, late(".text"), id="arm64 module into .text"),
    pytest.param("arm64", ".text.unlikely", OWN, MOD, late(".text.unlikely"),
                 id="arm64 module into .text.unlikely"),
    pytest.param("arm64", ".rodata", OWN, MOD, late(".rodata"), id="arm64 module into .rodata"),
    pytest.param("arm64", ".data", OWN, MOD, None, id="arm64 module into .data"),
    pytest.param("arm64", ".data..read_mostly", OWN, MOD, None,
                 id="arm64 module into .data..read_mostly"),
    pytest.param("arm64", ".bss", OWN, MOD, None, id="arm64 module into .bss"),
    pytest.param("arm64", ".text", OWN, "vmlinux", None,
                 id="arm64 vmlinux into .text (applied while still writable)"),
    pytest.param("arm64", ".rodata", OWN, "vmlinux", None, id="arm64 vmlinux into .rodata"),
    pytest.param("arm64", ".data..ro_after_init", WA, MOD, (Says("read-only"), False),
                 id="arm64 module into .data..ro_after_init"),
    pytest.param("x86_64", ".text", OWN, MOD, None, id="x86_64 module into .text (text_poke)"),
    pytest.param("x86_64", ".rodata", OWN, MOD, None, id="x86_64 module into .rodata"),
    pytest.param("s390x", ".text", OWN, MOD, None,
                 id="s390x module into .text (s390_kernel_write)"),
    pytest.param("s390x", ".data.rel.ro", OWN, MOD, None, id="s390x module into .data.rel.ro"),
    pytest.param("ppc64le", ".text", OWN, MOD, None,
                 id="ppc64le module into .text (REL24 through patch_instruction)"),
    pytest.param("ppc64le", ".toc", OWN, MOD, None, id="ppc64le module into .toc"),
    pytest.param("ppc64le", ".data.rel.ro", OWN, MOD, None,
                 id="ppc64le module into .data.rel.ro (writable)"),
    pytest.param("ppc64le", ".rodata", A, MOD,
                 (Says("plain stores", "read-only", "kernel faults", "keep the data"), True),
                 id="ppc64le module into .rodata"),
])
def test_late_write(arch: str, name: str, flags: int | None, obj: str, expected: object) -> None:
    check(rules.late_write(ARCH[arch], section(fixture(arch), name, flags), obj), expected)


# module_reload at the version boundaries (the rest is in test_rules.py): x86_64 clears
# a module's relocations when it goes from 6.3 (clear_relocate_add), ppc64le accepts
# ld r2,24(r1) from 6.3, s390x never rewrites a GOT slot.

REDO = "disable and remove this patch first"


@pytest.mark.parametrize(("arch", "rtype", "data", "version", "expected"), [
    pytest.param("x86_64", R_X86_64_PC32, bytes(4), (6, 2), Says("before 6.3", REDO,
                 "or run 6.3 or later"), id="x86_64 on 6.2"),
    pytest.param("x86_64", R_X86_64_PC32, bytes(4), (6, 3), None, id="x86_64 on 6.3"),
    pytest.param("ppc64le", R_PPC64_REL24, words(BL, NOP), (6, 2),
                 Says("before 6.3", "Expected nop after call", REDO), id="ppc64le bl on 6.2"),
    pytest.param("ppc64le", R_PPC64_REL24, words(BL, NOP), (6, 3), None, id="ppc64le bl on 6.3"),
    pytest.param("ppc64le", R_PPC64_REL24, words(B, NOP), (6, 2), None, id="ppc64le b on 6.2"),
    pytest.param("s390x", R_390_GOTENT, bytes(4), (6, 3), Says("GOT", REDO),
                 id="s390x GOTENT on 6.3"),
    pytest.param("s390x", R_390_GOTPLTENT, bytes(4), None, Says("GOT", REDO),
                 id="s390x GOTPLTENT, unknown kernel"),
    pytest.param("s390x", R_390_PC32DBL, bytes(4), None, None, id="s390x PC32DBL"),
    pytest.param("arm64", R_AARCH64_ADR_PREL_PG_HI21, bytes(4), (6, 2), None, id="arm64 on 6.2"),
])
def test_module_reload_boundaries(arch: str, rtype: int, data: bytes,
                                  version: tuple[int, int] | None, expected: object) -> None:
    check(rules.module_reload(ARCH[arch], MOD, rtype, data, 0, version), expected)


# -- versions and registration ------------------------------------------------------

@pytest.mark.parametrize(("release", "expected"), [
    pytest.param("6.1.0-57-cloud-amd64", (6, 1), id="a Debian release"),
    pytest.param("6.1.0-57-cloud-amd64 SMP preempt mod_unload modversions ", (6, 1),
                 id="a vermagic"),
    pytest.param("6.12.117", (6, 12), id="a stable release"),
    pytest.param("6.10.0", (6, 10), id="6.10 is not 6.1"),
    pytest.param("5.10.0-30-amd64", (5, 10), id="5.10"),
    pytest.param("4.19.0", (4, 19), id="4.19"),
    pytest.param("6.3.0-rc1", (6, 3), id="a release candidate"),
    pytest.param("6.3-rc1", (6, 3), id="a '-' right after the minor"),
    pytest.param("6.8.0+", (6, 8), id="a dirty tree"),
    pytest.param("6.1+ SMP", (6, 1), id="a '+' right after the minor"),
    pytest.param("", None, id="empty"),
    pytest.param("6", None, id="no minor"),
    pytest.param("v6.1.0", None, id="a leading v"),
    pytest.param("6.x", None, id="a minor that is no number"),
    pytest.param("linux", None, id="no version at all"),
])
def test_kernel_version(release: str, expected: tuple[int, int] | None) -> None:
    assert rules.kernel_version(release) == expected


# kernel/livepatch/core.c: .klp.rela.<module>.* is applied from klp_init_object_loaded,
# for the patch's own klp_objects only; .klp.rela.vmlinux.* by the module loader since
# 5.8, before that only for a registered vmlinux object (.name = NULL).

NOT_REGISTERED = Says(f"the patch registers no klp_object for {MOD}",
                      "the patched code would use address 0",
                      f'add {{ .name = "{MOD}", .funcs = ... }} to its klp_object array',
                      "an empty klp_func list if it patches no function of it")
NO_VMLINUX = ("the patch registers no klp_object for vmlinux",
              "only for a registered vmlinux object (.name = NULL)")


@pytest.mark.parametrize(("obj", "registered", "version", "expected"), [
    pytest.param(MOD, {"vmlinux", MOD}, None, None, id="a registered module"),
    pytest.param(MOD, {MOD}, (4, 19), None, id="a registered module on 4.19"),
    pytest.param(MOD, {"vmlinux"}, (6, 1), NOT_REGISTERED, id="a module not registered"),
    pytest.param(MOD, set(), None, NOT_REGISTERED, id="no klp_objects at all"),
    pytest.param(MOD, {"fixture-mod"}, None, NOT_REGISTERED,
                 id="registered as fixture-mod (the kernel compares literally)"),
    pytest.param("vmlinux", {"vmlinux"}, (4, 19), None, id="vmlinux registered, 4.19"),
    pytest.param("vmlinux", {MOD}, (5, 8), None,
                 id="vmlinux not registered, 5.8 (the loader applies it)"),
    pytest.param("vmlinux", set(), (6, 1), None, id="vmlinux not registered, 6.1"),
    pytest.param("vmlinux", {MOD}, (5, 7), Says(*NO_VMLINUX, "this kernel"),
                 id="vmlinux not registered, 5.7"),
    pytest.param("vmlinux", set(), (4, 19), Says(*NO_VMLINUX, "this kernel"),
                 id="vmlinux not registered, 4.19"),
    pytest.param("vmlinux", {MOD}, None, Says(*NO_VMLINUX, "kernels before 5.8"),
                 id="vmlinux not registered, unknown kernel"),
])
def test_object_registered(obj: str, registered: set[str], version: tuple[int, int] | None,
                           expected: object) -> None:
    check(rules.object_registered(obj, registered, version), expected)


# kernel/livepatch/core.c klp_find_object_module: find_module(obj->name) against struct
# module's name, KBUILD_MODNAME (scripts/Makefile.lib name-fix-token: '-' and ',' become
# '_'); klp_init_object: names of MODULE_NAME_LEN or more are refused; a NULL name is
# vmlinux (klp_is_module), and klp_module_coming refuses a module named vmlinux.

def knows_it_as(name: str, fixed: str) -> Says:
    return Says(f'klp_object "{name}" never matches a module', f'the kernel knows it as "{fixed}"',
                f'write .name = "{fixed}"')


KNOWN = {"vmlinux", MOD, "nfsd"}
NO_MODULES = Says("the symbol database has no modules", "rebuild it with --modules")
NO_SUCH = Says("the symbol database has no module of that name", "a typo?",
               "add it to the build")


@pytest.mark.parametrize(("name", "known", "expected"), [
    pytest.param(MOD, None, None, id="a module, no symbol database"),
    pytest.param(MOD, KNOWN, None, id="a module the database has"),
    pytest.param("a" * 55, None, None, id="55 bytes, MODULE_NAME_LEN-1"),
    pytest.param("fixture-mod", None, (knows_it_as("fixture-mod", MOD), False),
                 id="a '-' in the name"),
    pytest.param(f"{MOD}.ko", KNOWN, (knows_it_as(f"{MOD}.ko", MOD), False),
                 id="the module's file name"),
    pytest.param("fixture-mod.ko", None, (knows_it_as("fixture-mod.ko", MOD), False),
                 id="the file name with a '-'"),
    pytest.param("a" * 56, None, (Says("longer than 55 characters", "the kernel refuses it",
                                       "MODULE_NAME_LEN"), False), id="56 bytes, one over"),
    pytest.param("a" * 54 + "é", None, (Says("longer than 55"), False),
                 id="55 characters in 56 bytes"),
    pytest.param("nfsd", {"vmlinux"}, (NO_MODULES, True), id="a database of vmlinux only"),
    pytest.param("nfsd", set(), (NO_MODULES, True), id="an empty database"),
    pytest.param("nfs", KNOWN, (NO_SUCH, True), id="a module the database lacks"),
    pytest.param("fixture,mod", None, (knows_it_as("fixture,mod", MOD), False),
                 id="a ',' in the name"),
    pytest.param("vmlinux", KNOWN, (Says("NULL"), False), id="a klp_object named vmlinux"),
])
def test_registered_name(name: str, known: set[str] | None, expected: object) -> None:
    check(rules.registered_name(name, known), expected)


NOT_LOADED = Says("no module of that name is loaded on the target nor given with --modules",
                  "give the target's modules with --modules DIR")


@pytest.mark.parametrize("known", [{"vmlinux"}, KNOWN], ids=["nothing loaded", "others loaded"])
def test_registered_name_on_a_running_kernel(known: set[str]) -> None:
    """A kallsyms dump has the loaded modules and those --modules gives: the remedy is
    --modules, not a database rebuilt."""
    check(rules.registered_name("nfs", known, running=True), (NOT_LOADED, True))
    check(rules.registered_name(MOD, KNOWN, running=True), None)


# include/asm-generic/vmlinux.lds.h and each arch's vmlinux.lds.S: __init_begin ..
# __init_end is what free_initmem() frees after boot; the per-CPU template lies inside
# it on arm64, ppc64, s390 and x86_64 7.x (zero-based, outside it, on x86_64 6.1). The
# addresses are the tiny kernels' (tests/e2e/kernel): x86_64 6.1, x86_64 7.3, arm64 7.3.

def record(name: str, value: int, type: str = "OBJECT", section: str = "") -> SymbolRecord:
    return SymbolRecord(name, "vmlinux", 1, 1, "d", type, "LOCAL", 8, section, value, "", False,
                        1, 1)


def bounds(*values: int) -> dict[str, list[SymbolRecord]]:
    return {name: [record(name, value, "NOTYPE")]
            for name, value in zip(rules.INIT_MEMORY_BOUNDS, values, strict=False)}


X86_61 = bounds(0xffffffff81c0e000, 0xffffffff81cf2000, 0, 0x277d8)
X86_73 = bounds(0xffffffff81a4e000, 0xffffffff81b9e000, 0xffffffff81b78000, 0xffffffff81b9ced8)
ARM64_73 = bounds(0xffff8000804f0000, 0xffff800080680000, 0xffff800080578000, 0xffff800080586960)
FREED = Says("init function of vmlinux (.init.text)", "frees init memory after boot",
             "use what the running kernel keeps")
FREED_DATA = Says("init variable of vmlinux", "freed memory")
MAYBE = Says("init symbol of vmlinux", "unless it is a linker-made bound",
             "a symbol database built with --vmlinux can")


@pytest.mark.parametrize(("layout", "rec", "expected"), [
    pytest.param(X86_61, record("start_kernel", 0xffffffff81c36cce, "FUNC", ".init.text"),
                 (FREED, True), id="x86_64 6.1: start_kernel"),
    pytest.param(X86_61, record("boot_command_line", 0xffffffff81ca8920),
                 (FREED_DATA, True), id="x86_64 6.1: boot_command_line (__initdata)"),
    pytest.param(X86_61, record("saved_command_line", 0xffffffff81cf9008), None,
                 id="x86_64 6.1: saved_command_line (kept)"),
    pytest.param(X86_61, record("runqueues", 0x269c0), None,
                 id="x86_64 6.1: a per-CPU variable (zero-based)"),
    pytest.param(X86_61, record("__init_end", 0xffffffff81cf2000), None,
                 id="x86_64 6.1: the first address after init memory"),
    pytest.param(X86_73, record("runqueues", 0xffffffff81b9be40), None,
                 id="x86_64 7.3: a per-CPU variable inside init memory"),
    pytest.param(X86_73, record("boot_command_line", 0xffffffff81a9c900),
                 (FREED_DATA, True), id="x86_64 7.3: boot_command_line"),
    pytest.param(X86_73, record("__init_begin", 0xffffffff81a4e000), (FREED_DATA, True),
                 id="x86_64 7.3: its first byte"),
    pytest.param(ARM64_73, record("start_kernel", 0xffff8000804f0a98, "FUNC"),
                 (Says("init function of vmlinux:"), True),
                 id="arm64 7.3: start_kernel, section unknown"),
    pytest.param(ARM64_73, record("runqueues", 0xffff800080585a00), None,
                 id="arm64 7.3: a per-CPU variable"),
    pytest.param(ARM64_73, record("_einittext", 0xffff800080524dc8, "NOTYPE"), None,
                 id="arm64 7.3: a linker-made bound"),
    pytest.param(ARM64_73, record("start_kernel", 0xffff8000804f0a98, "?"), (MAYBE, False),
                 id="arm64 7.3: from System.map alone (type unknown)"),
    pytest.param({}, record("start_kernel", 0xffff8000804f0a98, "FUNC"), None,
                 id="a database without the bounds"),
    pytest.param(X86_61, record("start_kernel", 0xffffffff81c36cce, "FUNC")._replace(
        obj=MOD), None, id="a module's symbol"),
])
def test_freed_after_boot(layout: dict[str, list[SymbolRecord]], rec: SymbolRecord,
                          expected: object) -> None:
    check(rules.freed_after_boot(rec, rules.init_memory(layout)), expected)


# kernel/livepatch/patch.c klp_patch_func -> ftrace_location (kernel/trace/ftrace.c):
# the call site at the function's address, else any of its kallsyms range (v5.19+).
# The tiny ppc64le 6.1 kernel's (tests/e2e/kernel): loadavg_proc_show is followed by the
# body of the overridden __weak arch_report_meminfo; sys_kexec_load by COND_SYSCALL stubs.

LOADAVG = record("loadavg_proc_show", 0xc0000000002ef800, "FUNC")._replace(size=0x144)
KEXEC = record("sys_kexec_load", 0xc0000000000ebb20, "FUNC")._replace(size=16)
PPC64_61 = {LOADAVG.address: (0xc, 0x154), KEXEC.address: tuple(range(4, 0x100, 0x10)),
            # Debian's ppc64el 6.1 kvm.ko: followed by the body of an overridden __weak
            # kvm_arch_* function of virt/kvm
            ".text+0x10548": (0xc, 0x57c)}
KVM_HALT = LOADAVG._replace(name="kvm_vcpu_halt", obj="kvm", section=".text", value=0x10548,
                            size=1380)
HOOKS_ANOTHER = Says("loadavg_proc_show's kallsyms range holds 2 ftrace call sites "
                     "(+0xc, +0x154) and none at its address",
                     "+0x154 lies past its end (0x144 bytes)", "overridden __weak function",
                     "report itself enabled and never run",
                     "replace a caller of loadavg_proc_show")


@pytest.mark.parametrize(("rec", "version", "expected"), [
    pytest.param(LOADAVG, (6, 1), HOOKS_ANOTHER, id="ppc64le 6.1: loadavg_proc_show"),
    pytest.param(LOADAVG, None, HOOKS_ANOTHER, id="kernel version unknown"),
    pytest.param(LOADAVG, (5, 19), HOOKS_ANOTHER, id="5.19, the first to search the range"),
    pytest.param(LOADAVG, (5, 18), None, id="5.18: only the address or its first 16 bytes"),
    pytest.param(KEXEC, (6, 1), Says("16 ftrace call sites", "+0x14, +0x24",
                                     "lie past its end (0x10 bytes)"),
                 id="ppc64le 6.1: sys_kexec_load, followed by 15 bodies"),
    pytest.param(LOADAVG._replace(size=0x200), (6, 1),
                 Says("2 ftrace call sites (+0xc, +0x154)"), id="both inside its size"),
    pytest.param(record("cmdline_proc_show", 0xc0000000002ef000, "FUNC"), (6, 1), None,
                 id="a function with one call site"),
    pytest.param(LOADAVG._replace(value=None), (6, 1), None, id="no address"),
    pytest.param(KVM_HALT, (6, 1), Says("kvm_vcpu_halt's kallsyms range holds 2 ftrace call "
                                        "sites (+0xc, +0x57c)", "past its end (0x564 bytes)"),
                 id="a module function: kvm_vcpu_halt of ppc64el's kvm.ko"),
    pytest.param(KVM_HALT._replace(section=".text.unlikely"), (6, 1), None,
                 id="the same offset in another section"),
])
def test_one_call_site(rec: SymbolRecord, version: tuple[int, int] | None,
                       expected: object) -> None:
    got = rules.one_call_site(rec, PPC64_61, version)
    check(got, expected)
    if isinstance(got, str) and rec.size == 0x200:
        assert "past its end" not in got


# GCC's clones (klp/symdb/clones.py); the names are Debian's 6.1 amd64 vmlinux's.

@pytest.mark.parametrize(("clones", "found", "expected"), [
    pytest.param(["__tcp_send_ack.part.0"], True,
                 Says("vmlinux also has __tcp_send_ack.part.0, a compiler copy of "
                      "__tcp_send_ack", "those callers keep the old code",
                      "replace the copy too"), id="the function and a copy"),
    pytest.param(["__tcp_send_ack.part.0", "__tcp_send_ack.isra.0"], False,
                 Says("vmlinux has __tcp_send_ack.part.0, __tcp_send_ack.isra.0: the compiler "
                      "copied __tcp_send_ack", '.old_name = "__tcp_send_ack.part.0"'),
                 id="only copies"),
    pytest.param([], True, None, id="no copy"),
])
def test_compiler_clones(clones: list[str], found: bool, expected: object) -> None:
    check(rules.compiler_clones("__tcp_send_ack", "vmlinux", clones, found), expected)
