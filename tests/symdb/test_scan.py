"""The scanner's kernel rules, on the sample vmlinux and module with crafted symbols added.

Each added symbol exercises one rule of scripts/mksysmap, scripts/kallsyms.c or
kernel/module/kallsyms.c; the expected outcome is written next to it.
"""

from __future__ import annotations

from klp.elfcodec.constants import SHN, STB, STT
from klp.elfcodec.elffile import ElfFile
from klp.symdb.scan import scan_module, scan_vmlinux
from klp.symvers import ObjectExports
from tests.support.paths import TESTDATA

TEXT = 0xFFFFFFFF81000000  # x86_64 sample: .text starts here (section 1)


def info(bind: int, stype: int) -> int:
    return bind << 4 | stype


def crafted_vmlinux() -> ElfFile:
    elf = ElfFile.open(TESTDATA / "x86_64" / "vmlinux")
    data = elf.find_section(".data")
    assert data is not None and elf.sections[1].name == ".text"
    g, loc, w = STB.GLOBAL, STB.LOCAL, STB.WEAK
    add = elf.add_symbol
    # dropped by mksysmap / kallsyms
    add(".Llabel", info=info(loc, STT.NOTYPE), shndx=1, value=TEXT + 0x40)
    add("$x", info=info(loc, STT.NOTYPE), shndx=1, value=TEXT + 0x40)
    add("__crc_foo", info=info(g, STT.NOTYPE), shndx=SHN.ABS, value=0x1234)
    add("__kstrtab_foo", info=info(loc, STT.OBJECT), shndx=2, value=TEXT + 0x300)
    add("abs_global", info=info(g, STT.NOTYPE), shndx=SHN.ABS, value=0x10)  # 'A'
    add("abs_local", info=info(loc, STT.NOTYPE), shndx=SHN.ABS, value=0x10)  # 'a'
    add("weak_undef_func", info=info(w, STT.FUNC), shndx=0)  # 'w'
    add("kallsyms_names", info=info(g, STT.OBJECT), shndx=2, value=TEXT + 0x300)
    add("thing_veneer", info=info(loc, STT.FUNC), shndx=1, value=TEXT + 0x40)
    add("x.long_branch.y", info=info(loc, STT.FUNC), shndx=1, value=TEXT + 0x40)
    add("unique_sym", info=info(STB.GNU_UNIQUE, STT.OBJECT), shndx=data.index,
        value=data.sh_addr)  # 'u'
    # kept
    add("__gp", info=info(g, STT.NOTYPE), shndx=SHN.ABS, value=0x20)  # kallsyms keeps it
    add("weak_undef_obj", info=info(w, STT.OBJECT), shndx=0)  # 'v': nobody drops it
    # one address, kallsyms tie-break order: plain, fewer underscores, linker-provided, weak
    at = TEXT + 0x1F0
    add("__start_zz", info=info(g, STT.NOTYPE), shndx=1, value=at)
    add("tie_weak", info=info(w, STT.FUNC), shndx=1, value=at)
    add("__tie", info=info(g, STT.FUNC), shndx=1, value=at)
    add("_tie", info=info(g, STT.FUNC), shndx=1, value=at)
    add("b_tie", info=info(g, STT.FUNC), shndx=1, value=at)
    add("a_tie", info=info(g, STT.FUNC), shndx=1, value=at)
    return elf


def test_vmlinux_filters_and_order() -> None:
    obj = scan_vmlinux(crafted_vmlinux(), "vmlinux")
    names = [n.decode() for n in obj.names]
    for dropped in (".Llabel", "$x", "__crc_foo", "__kstrtab_foo", "abs_global", "abs_local",
                    "weak_undef_func", "kallsyms_names", "thing_veneer", "x.long_branch.y",
                    "unique_sym"):
        assert dropped not in names, dropped
    assert names[:2] == ["weak_undef_obj", "__gp"]  # addresses 0 and 0x20 come first
    assert obj.letters[:2] == [b"v", b"A"] and obj.sections[:2] == [b"*UND*", b"*ABS*"]
    at = names.index("a_tie")
    assert names[at : at + 6] == ["a_tie", "b_tie", "_tie", "__tie", "__start_zz", "tie_weak"]


def test_vmlinux_exports_from_symvers_and_ksymtab() -> None:
    elf = ElfFile.open(TESTDATA / "x86_64" / "vmlinux")
    obj = scan_vmlinux(elf, "vmlinux", ObjectExports(plain=frozenset({b"fixture_nonexp_func",
                                                                 b"not_defined_here"})))
    assert b"fixture_nonexp_func" in obj.exported  # Module.symvers
    assert b"fixture_log" in obj.exported  # __ksymtab_fixture_log
    assert b"not_defined_here" not in obj.exported


def test_module_core_symbols() -> None:
    """is_core_symbol: defined, named, section index < e_shnum, SHF_ALLOC and not .init*
    (after the loader drops SHF_ALLOC of .modinfo/__versions), or the per-cpu section."""
    elf = ElfFile.open(TESTDATA / "x86_64" / "modules" / "fixture-mod.ko")
    text = elf.find_section(".text")
    modinfo = elf.find_section(".modinfo")
    assert text is not None and modinfo is not None
    loc, g = STB.LOCAL, STB.GLOBAL
    elf.add_symbol("abs_in_module", info=info(loc, STT.NOTYPE), shndx=SHN.ABS, value=1)
    elf.add_symbol("in_modinfo", info=info(loc, STT.OBJECT), shndx=modinfo.index)
    elf.add_symbol("mod_show", info=info(g, STT.NOTYPE), shndx=SHN.ABS, value=2)
    elf.add_symbol("weak_fn", info=info(STB.WEAK, STT.FUNC), shndx=text.index, value=0)
    obj = scan_module(elf, "modules/fixture-mod.ko")
    names = [n.decode() for n in obj.names]
    assert "abs_in_module" not in names and "in_modinfo" not in names
    assert "init_module" not in names  # .init.text
    assert obj.letters[names.index("weak_fn")] == b"w"  # the kernel's elf_type
    # mod_show: 2 core copies, but a third (absolute) one counts while loading
    pos, count, _ = obj.positions()
    rows = [i for i, n in enumerate(names) if n == "mod_show"]
    assert [(pos[i], count[i]) for i in rows] == [(1, 2), (2, 2)]
    assert [obj.late.get(i) for i in rows] == [(1, 3), (2, 3)]
    assert obj.name == "fixture_mod" and obj.meta["vermagic"].startswith("6.1.0-klp-fixture")


def test_module_name_without_modinfo_name() -> None:
    elf = ElfFile.open(TESTDATA / "x86_64" / "modules" / "fixture-mod.o")
    assert scan_module(elf, "drivers/x/fixture-mod.o").name == "fixture_mod"
