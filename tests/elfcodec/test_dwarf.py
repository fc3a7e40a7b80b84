"""DWARF compile-unit ranges of relocatable objects, checked against binutils readelf.

readelf applies the relocations of an ET_REL object before it dumps
``.debug_aranges`` and ``.debug_info``, so its ranges and unit names are an
independent oracle for :func:`klp.elfcodec.dwarf.unit_ranges`. The inputs are
the bundled ``livepatch-split.ko`` of each architecture (DWARF 5, as gcc 12
writes it) and, when the cross compilers are installed, two-file objects built
here as DWARF 4 and as zlib-compressed DWARF 5.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import struct
import subprocess
import time
import tracemalloc
import zlib

import pytest

from klp.elfcodec.constants import SHF, SHT
from klp.elfcodec.dwarf import (
    FunctionPlace,
    InlinedCopies,
    Signature,
    StructLayout,
    _Budget,
    _Reader,
    _Sections,
    _units_at,
    _Unreadable,
    declarations,
    inlined_copies,
    line_rows,
    signatures,
    struct_layouts,
    unit_addresses,
    unit_ranges,
)
from klp.elfcodec.elffile import ElfFile
from tests.support.cross import CROSS, compiled
from tests.support.dwarf import check, function_places, inlining_oracle, oracle
from tests.support.paths import ARCHES, TESTDATA, realdata_or_skip, require_realdata


@pytest.mark.parametrize("arch", ARCHES)
def test_bundled_split_module(arch: str) -> None:
    check(TESTDATA / arch / "livepatch-split.ko", "readelf")


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("flags", [["-gdwarf-4"], ["-gdwarf-5", "-gz=zlib"]],
                         ids=["dwarf4", "dwarf5-zlib"])
def test_built_objects(arch: str, flags: list[str], tmp_path: pathlib.Path) -> None:
    sources = {"one.c": "static int s; int f(int x) { return s += x; }\n"
                        "__attribute__((cold)) int g(void) { return 1; }\n"
                        "struct opaque; struct opaque *op;\n"
                        "struct laid_out { char c; void *p; int n; long z; } laid;\n",
               "two.c": "extern int f(int); int h(int x) { return f(x) + 2; }\n"}
    objects = [str(compiled(arch, flags, tmp_path, name, text, "ld"))
               for name, text in sources.items()]
    linked = tmp_path / "linked.o"
    subprocess.run([CROSS[arch] + "ld", "-r", "-o", str(linked), *objects], check=True)
    check(linked, "readelf")
    assert {pathlib.Path(u.name).name for u in unit_ranges(ElfFile.open(linked))} == \
        {"one.c", "two.c"}
    check_lines(linked, CROSS[arch] + "addr2line")
    # LP64 on all four: the compiler's own layout, read back from DWARF
    assert struct_layouts(ElfFile.open(linked), ["laid_out", "opaque", "absent"]) == {
        "laid_out": StructLayout(32, {"c": 0, "p": 8, "n": 16, "z": 24})}


#: A function the compiler inlines twice and keeps out of line (its address is taken),
#: one it never inlines, and one that calls itself.
INLINING = """
static int __attribute__((noinline)) never(int x) { return x - 1; }
static int helper(int x) { return x * 3 + never(x); }
int (*keep)(int) = helper;
int caller_a(int x) { return helper(x) + 2; }
int caller_b(int x) { return helper(x) + helper(x + 5); }
int caller_c(int x) { return never(x) + 3; }
"""


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("flags", [["-gdwarf-4"], ["-gdwarf-5", "-gz=zlib"]],
                         ids=["dwarf4", "dwarf5-zlib"])
def test_inlined_copies(arch: str, flags: list[str], tmp_path: pathlib.Path) -> None:
    obj = compiled(arch, flags, tmp_path, "inl.c", INLINING)
    elf = ElfFile.open(obj)
    at = {name: place for name, place in function_places(elf).items()
          if name in ("helper", "never", "caller_a")}
    found = {p.name: copies for p, copies in
             inlined_copies(elf, [*at.values(), FunctionPlace("absent", ".text", 1 << 40)]
                            ).items()}
    assert found == {"helper": InlinedCopies("inl.c", {"caller_a": 1, "caller_b": 2}),
                     "never": InlinedCopies("inl.c", {}),
                     "caller_a": InlinedCopies("inl.c", {})}
    expected = {k: v for k, v in inlining_oracle(obj, "readelf", 0).items() if k in at}
    assert {k: v.callers for k, v in found.items() if v.callers} == expected


#: Prototypes whose sizes are the same on the four LP64 architectures: a pointer to an
#: incomplete struct (its size from DW_FORM_implicit_const where gcc shares it), a
#: typedef under qualifiers, a struct by value, a variadic function.
PROTOTYPES = """
#include <stdarg.h>
typedef unsigned long ulong_t;
struct seq_file;
struct big { long a, b, c; };
int show(struct seq_file *m, void *v) { return m != 0 && v != 0; }
void nothing(void) { }
const volatile ulong_t qual(const ulong_t a, char b, short c) { return a + b + c; }
struct big byval(struct big b, unsigned char *p) { b.a += *p; return b; }
int vari(int n, ...) { va_list ap; va_start(ap, n); n += va_arg(ap, int); va_end(ap); return n; }
"""


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("flags", [["-gdwarf-4"], ["-gdwarf-5", "-gz=zlib"]],
                         ids=["dwarf4", "dwarf5-zlib"])
def test_signatures(arch: str, flags: list[str], tmp_path: pathlib.Path) -> None:
    elf = ElfFile.open(compiled(arch, flags, tmp_path, "sig.c", PROTOTYPES))
    places = function_places(elf).values()
    assert {p.name: s for p, s in signatures(elf, places).items()} == {
        "show": Signature((8, 8), 4, False), "nothing": Signature((), 0, False),
        "qual": Signature((8, 1, 2), 8, False), "byval": Signature((24, 8), 24, False),
        "vari": Signature((4,), 4, True)}


#: What a livepatch declares of the kernel's symbols: plain and asm-labelled (as
#: klp-reloc.h's KLP_RELOC_SYMBOL writes one: a quoted name), of every kind of size.
DECLARATIONS = r"""
struct big { long a, b, c; };
typedef const unsigned short cushort_t;
extern int plain_int;
extern long klp_long __asm__("real_long");
extern struct big big_one;
extern volatile cushort_t qualified;
extern char unknown_size[];
extern int marked __asm__("\".klp.sym.rela.vmlinux.vmlinux.count.2\"");
extern int klp_fn(int a, long b) __asm__("some_func");
extern void *vari(const char *fmt, ...);
int defined_here = 1;
int use(void)
{
    return plain_int + klp_long + big_one.a + qualified + unknown_size[0] + marked
        + klp_fn(1, 2) + (vari("x", 1) != 0) + defined_here;
}
"""


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("flags", [["-gdwarf-4"], ["-gdwarf-5", "-gz=zlib"]],
                         ids=["dwarf4", "dwarf5-zlib"])
def test_declarations(arch: str, flags: list[str], tmp_path: pathlib.Path) -> None:
    """Each by the name it links by; what the object defines is no declaration."""
    found = declarations(ElfFile.open(compiled(arch, flags, tmp_path, "decl.c", DECLARATIONS)))
    assert found.functions == {"some_func": Signature((4, 8), 4, False),
                               "vari": Signature((8,), 8, True)}
    assert found.variables == {"plain_int": 4, "real_long": 8, "big_one": 24, "qualified": 2,
                               "unknown_size": None,
                               '".klp.sym.rela.vmlinux.vmlinux.count.2"': 4}


@pytest.mark.parametrize("arch", ARCHES)
def test_units_that_disagree_declare_nothing(arch: str, tmp_path: pathlib.Path) -> None:
    """Two source files of one module declaring a name differently (they may mean
    different copies): neither declaration stands for the name."""
    sources = {"a.c": "extern int both; extern int fn(int); extern char only_a;\n"
                      "int a(void) { return both + fn(1) + only_a; }\n",
               "b.c": "extern long both; extern int fn(int);\n"
                      "long b(void) { return both + fn(2); }\n"}
    objects = [str(compiled(arch, ["-g"], tmp_path, name, text, "ld"))
               for name, text in sources.items()]
    linked = tmp_path / "linked.o"
    subprocess.run([CROSS[arch] + "ld", "-r", "-o", str(linked), *objects], check=True)
    found = declarations(ElfFile.open(linked))
    assert found.variables == {"both": None, "only_a": 1}
    assert found.functions == {"fn": Signature((4,), 4, False)}


def test_no_or_broken_debug_info_gives_nothing() -> None:
    elf = ElfFile.open(TESTDATA / "x86_64" / "livepatch-fixture.ko")
    assert unit_ranges(elf) == []
    assert struct_layouts(elf, ["fixture_klp_object"]) == {}
    assert inlined_copies(elf, [FunctionPlace("fixture_state", ".text", 0)]) == {}
    elf = ElfFile.open(TESTDATA / "x86_64" / "livepatch-split.ko")
    info = elf.find_section(".debug_info")
    assert info is not None
    info.data = bytes(len(info.data))  # every unit length 0: nothing readable
    assert unit_ranges(elf) == []
    assert struct_layouts(elf, ["split_funcs"]) == {}
    assert inlined_copies(elf, [FunctionPlace("split_patched", ".text", 0)]) == {}
    assert signatures(elf, [FunctionPlace("split_patched", ".text", 0)]) == {}
    assert declarations(elf) == ({}, {})


def addr2line_oracle(path: pathlib.Path, tool: str, section: str,
                     offsets: list[int]) -> list[tuple[str, int] | None]:
    """(file base name, line) of each offset as binutils addr2line reads it, or None."""
    out = subprocess.run([tool, "-e", str(path), "-j", section, *map(hex, offsets)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    found: list[tuple[str, int] | None] = []
    for line in out:
        place, _, number = line.split(" ")[0].rpartition(":")
        found.append((pathlib.Path(place).name, int(number))
                     if number.isdigit() and int(number) else None)
    return found


@pytest.mark.parametrize("arch", ARCHES)
def test_line_rows_match_addr2line(arch: str) -> None:
    """The source line of every offset of every code section of the -g split module."""
    tool = CROSS[arch] + "addr2line" if arch != "x86_64" else "addr2line"
    if shutil.which(tool) is None:
        if require_realdata():
            pytest.fail(f"{tool} is missing")
        pytest.skip(f"{tool} is not installed")
    check_lines(TESTDATA / arch / "livepatch-split.ko", tool)


def check_lines(path: pathlib.Path, tool: str) -> None:
    elf = ElfFile.open(path)
    rows = line_rows(elf)
    assert rows
    for shndx, section_rows in rows.items():
        sec = elf.sections[shndx]
        offsets = list(range(0, sec.sh_size, 2))
        ours: list[tuple[str, int] | None] = []
        for offset in offsets:
            at = max((i for i, r in enumerate(section_rows) if r.start <= offset), default=-1)
            row = section_rows[at] if at >= 0 else None
            ours.append((pathlib.Path(row.file).name, row.line) if row and row.line else None)
        assert ours == addr2line_oracle(path, tool, sec.name, offsets), sec.name


# -- damaged debug info costs time and memory in proportion to the file -------------------


def test_leb128_longer_than_64_bits_is_unreadable() -> None:
    """A run of continuation bytes used to build an ever larger number (quadratic)."""
    reader = _Reader(b"\xff" * 10 + b"\x01", True, {}, _Budget(100))
    with pytest.raises(_Unreadable):
        reader.uleb(0)
    assert _Reader(b"\xff" * 9 + b"\x01", True, {}, _Budget(100)).uleb(0) == (2**64 - 1, 10)


def _declaring_unit(name_value: bytes) -> ElfFile:
    """An object whose one DWARF 4 unit declares a function, its name's form chosen in
    the entry itself (DW_FORM_indirect): ``name_value`` is that form and its value."""
    elf = ElfFile.open(TESTDATA / "x86_64" / "livepatch-fixture.ko")
    # code 1: the unit, with children; code 2: a subprogram with DW_AT_name
    # (DW_FORM_indirect) and DW_AT_declaration (DW_FORM_flag_present)
    abbrev = bytes([1, 0x11, 1, 0, 0, 2, 0x2E, 0, 0x03, 0x16, 0x3C, 0x19, 0, 0, 0])
    entries = bytes([1, 2]) + name_value + bytes([0])
    info = struct.pack("<LHLB", 7 + len(entries), 4, 0, 8) + entries
    for name, data in ((".debug_info", info), (".debug_abbrev", abbrev)):
        elf.add_section(name, SHT.PROGBITS, data=data)
    return elf


def test_a_form_given_in_the_entry_is_followed() -> None:
    found = declarations(_declaring_unit(b"\x08ext_fn\0"))  # DW_FORM_string
    assert found.functions == {"ext_fn": Signature((), 0, False)}


def test_an_implicit_constant_given_in_the_entry_is_unreadable() -> None:
    """DW_FORM_implicit_const keeps its value in the abbreviation, which has none for a
    form named in the entry: that used to end klp with a KeyError."""
    assert declarations(_declaring_unit(b"\x21")) == ({}, {})


@pytest.mark.parametrize("formats", [b"\x00", b"\x01\x01\x19"],
                         ids=["no-format", "flag-present"])
def test_line_table_entries_of_no_bytes_are_unreadable(formats: bytes) -> None:
    """A DWARF 5 directory table of 2**32 entries that take no bytes (no formats, or a
    path in DW_FORM_flag_present) used to run for ever."""
    elf = ElfFile.open(TESTDATA / "x86_64" / "livepatch-fixture.ko")
    # minimum instruction length, maximum operations, default is_stmt, line base,
    # line range, opcode base and the operand counts of standard opcodes 1-12
    fields = bytes([1, 1, 1, 0xFB, 14, 13, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1])
    tables = formats + b"\xff\xff\xff\xff\x0f" + bytes([0, 0])  # directories; no files
    program = struct.pack("<HBBL", 5, 8, 0, len(fields) + len(tables)) + fields + tables
    elf.add_section(".debug_line", SHT.PROGBITS,
                    data=struct.pack("<L", len(program)) + program)
    started = time.monotonic()
    assert line_rows(elf) == {}
    assert time.monotonic() - started < 5


def _compressed(elf: ElfFile, name: str, claimed: int, payload: bytes) -> None:
    sec = elf.find_section(name)
    assert sec is not None
    sec.data = elf.codecs.Chdr.pack_one((1, 0, claimed, 1)) + payload
    sec.sh_flags |= SHF.COMPRESSED


@pytest.mark.parametrize("claimed", [0, 100, 1 << 40])
def test_compressed_section_inflates_no_more_than_it_claims(claimed: int) -> None:
    """ch_size 0 or a small one over a zlib bomb; one no deflate stream can reach."""
    elf = ElfFile.open(TESTDATA / "x86_64" / "livepatch-split.ko")
    _compressed(elf, ".debug_info", claimed, zlib.compress(bytes(64 << 20)))
    tracemalloc.start()
    try:
        assert unit_ranges(elf) == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_shared_abbreviation_table_costs_linear_time() -> None:
    """A thousand units, each finding its code at the end of one long abbreviation table."""
    elf = ElfFile.open(TESTDATA / "x86_64" / "livepatch-fixture.ko")
    units = 1000
    # DWARF 4 unit header: length, version, abbreviation offset 0, address size; code 1
    info = struct.pack("<LHLBB", 8, 4, 0, 8, 1) * units
    aranges = b"".join(struct.pack("<LHLBB4x16x", 28, 2, 12 * i, 8, 0) for i in range(units))
    # code 2 over and over, code 1 (a unit without attributes) last
    abbrev = bytes([2, 0x11, 0, 0, 0]) * 20000 + bytes([1, 0x11, 0, 0, 0])
    for name, data in ((".debug_info", info), (".debug_aranges", aranges),
                       (".debug_abbrev", abbrev)):
        elf.add_section(name, SHT.PROGBITS, data=data)
    started = time.monotonic()
    assert unit_ranges(elf) == []
    assert time.monotonic() - started < 5


@pytest.mark.realdata
@pytest.mark.slow
def test_debian_vmlinux_unit_addresses_match_readelf() -> None:
    """A linked image's DWARF holds final addresses: read without relocations, and
    .debug_info a few bytes a unit (it is 164 MB here)."""
    env = realdata_or_skip("cloud-amd64")
    ours = unit_addresses(ElfFile.open(env["VMLINUX"]))
    assert len(ours) > 5000
    assert ours == sorted((start, end, name) for name, start, end in
                          oracle(pathlib.Path(env["VMLINUX"]), "readelf"))


@pytest.mark.realdata
@pytest.mark.slow
def test_debian_vmlinux_inlined_copies_match_readelf() -> None:
    """Functions of Debian's 6.1 kernel: the scheduler's and the page allocator's,
    inlined where their unit calls them (drain_all_pages() also into the compiler's
    copy __alloc_pages_slowpath.constprop.0, which DWARF names by its origin), and
    /proc's, reached through pointers only."""
    env = realdata_or_skip("cloud-amd64")
    path = pathlib.Path(env["VMLINUX"])
    elf = ElfFile.open(path)
    names = ("__refill_cfs_bandwidth_runtime", "update_curr", "dentry_free",
             "cmdline_proc_show", "d_lru_del", "drain_all_pages")
    at = {name: place for name, place in function_places(elf).items() if name in names}
    assert set(at) == set(names)
    started = time.monotonic()
    found = {p.name: copies for p, copies in inlined_copies(elf, at.values()).items()}
    assert time.monotonic() - started < 10
    assert set(found) == set(names)
    assert found["__refill_cfs_bandwidth_runtime"].callers  # inlined in its unit
    assert found["cmdline_proc_show"] == InlinedCopies("fs/proc/cmdline.c", {})
    assert found["drain_all_pages"].callers["__alloc_pages_slowpath.constprop.0"] == 1
    units = _units_at(elf, _Sections(elf), at.values())
    for name in names:
        expected = inlining_oracle(path, "readelf", units[at[name]]).get(name, {})
        dwarf_names: dict[str, int] = {}
        for caller, count in found[name].callers.items():
            origin = re.sub(r"(\.(constprop|isra|part)\.\d+)+$", "", caller)
            dwarf_names[origin] = dwarf_names.get(origin, 0) + count
        assert dwarf_names == expected, name
