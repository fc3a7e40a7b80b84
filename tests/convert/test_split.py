"""Symbols split by source file: livepatch-split.ko, whose files annotate one name twice.

The expectations come from the C sources (testdata/src/livepatch/livepatch-split-*.c);
which relocation belongs to which file is read back with binutils readelf: a
relocation inside a local symbol belongs to the STT_FILE symbol before it, one
inside a DWARF compile unit's range (``--debug-dump``) to that unit.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klp.convert.lookup import DbLookup
from klp.convert.plan import plan_conversion
from klp.convert.rewrite import apply_plan
from klp.elfcodec.constants import SHN
from klp.elfcodec.elffile import ElfFile
from klp.errors import KlpError
from klp.symvers import read_symvers
from tests.support.cli import klp
from tests.support.convert import convert
from tests.support.dwarf import oracle as unit_oracle
from tests.support.paths import ARCHES, TESTDATA
from tests.support.readelf import Readelf, readelf

MODULE = "livepatch-split.ko"
#: What each source file means by each name: (object, position).
MEANT = {
    "livepatch-split-core.c": {"fixture_count": ("vmlinux", 2), "fixture_helper": ("vmlinux", 1),
                               "fixture_log": ("vmlinux", 0)},
    "livepatch-split-util.c": {"fixture_count": ("vmlinux", 3), "fixture_helper": ("vmlinux", 2),
                               "fixture_log": ("fixture_mod", 0),
                               "mod_value": ("fixture_mod", 2)},
}
SPLIT = ("fixture_count", "fixture_helper", "fixture_log")
KLP_SYM = re.compile(r"\.klp\.sym\.([^.]+)\.(.+),(\d+)$")


def _local_ranges(oracle: Readelf) -> list[tuple[str, int, int, int]]:
    """(file, section index, start, end) of every sized local symbol, from readelf."""
    ranges, current = [], ""
    for _, value, size, typ, bind, _, ndx, name in oracle.symbols:
        if typ == "FILE":
            current = str(name)
        elif bind == "LOCAL" and str(ndx).isdigit() and int(size) and typ in ("FUNC", "OBJECT"):
            ranges.append((current, int(ndx), int(value), int(value) + int(size)))
    return ranges


@pytest.mark.parametrize("arch", ARCHES)
def test_each_file_gets_its_own_copy(arch: str, dbs: dict[str, pathlib.Path],
                                     tmp_path: pathlib.Path) -> None:
    out = tmp_path / "split.ko"
    report = json.loads(convert(arch, dbs[arch], MODULE, out, "--json").stdout)
    assert report["status"] == "converted" and report["problems"] == []
    oracle = readelf(str(out))
    assert oracle.warnings == []
    index = {name: n for n, name, *_ in oracle.sections}
    ranges = _local_ranges(oracle)
    # core.c and util.c have code in .text only, so their unit ranges are .text offsets
    ranges += [(pathlib.Path(unit).name, index[".text"], lo, hi)
               for unit, lo, hi in unit_oracle(out, "readelf") if "split-main" not in unit]
    seen: dict[str, set[tuple[str, int]]] = {name: set() for name in SPLIT}
    placed = 0
    for secname, relocs in oracle.relocs.items():
        if not secname.startswith(".klp.rela."):
            continue
        obj = secname.split(".")[3]
        target = index[secname[len(f".klp.rela.{obj}."):]]
        for off, _, _, symname, _ in relocs:
            m = KLP_SYM.match(str(symname))
            assert m and m[1] == obj, (secname, symname)
            name, pos = m[2], int(m[3])
            if name in seen:
                seen[name].add((obj, pos))
            files = {f for f, shndx, lo, hi in ranges if shndx == target and lo <= off < hi}
            if files and name in MEANT.get(next(iter(files)), {}):
                assert MEANT[files.pop()][name] == (obj, pos), (secname, off, symname)
                placed += 1
    assert placed >= 6  # every arch has uses in the static functions of both files
    for name in SPLIT:  # both copies are used, through two klp symbols
        assert seen[name] == {MEANT[f][name] for f in MEANT}, name
    leftover = {s[7] for s in oracle.symbols if s[6] == "UND"}
    assert not leftover & {*SPLIT, "mod_value"}
    by_symbol = {(r["symbol"], r["object"], r["position"]): r["source"]
                 for r in report["symbols"]}
    assert by_symbol[("fixture_count", "vmlinux", 3)] == "livepatch-split-util.c"
    assert by_symbol[("mod_value", "fixture_mod", 2)] is None  # files agree: no split
    again = tmp_path / "again.ko"
    rerun = klp("convert", str(out), "-o", str(again), "--symdb", str(dbs[arch]))
    assert "already converted" in rerun.stdout
    assert again.read_bytes() == out.read_bytes()


def _dry_run(elf: ElfFile, tmp_path: pathlib.Path, db: pathlib.Path) -> list[str]:
    """The problems klp reports for an edited x86_64 module."""
    path = tmp_path / "edited.ko"
    elf.write(path)
    proc = klp("convert", str(path), "--dry-run", "--json", "--symdb", str(db),
               "--symvers", str(TESTDATA / "x86_64" / "Module.symvers"), check=4)
    return [p["message"] for p in json.loads(proc.stdout)["problems"]]


def _symbol(elf: ElfFile, name: str) -> int:
    return next(s.index for s in elf.symtab if s.name == name)


@pytest.mark.parametrize("arch", ARCHES)
def test_global_function_without_debug_info(arch: str, dbs: dict[str, pathlib.Path],
                                            tmp_path: pathlib.Path) -> None:
    """livepatch_split_core (global) uses fixture_count. Without DWARF, no symbol
    says which file it came from on x86_64 and s390x: klp refuses instead of
    guessing. arm64's mapping symbols start every file's piece of .text, and on
    ppc64le the use goes through a .toc entry that core.c's static function
    loads too, so those two still convert."""
    elf = ElfFile.open(TESTDATA / arch / MODULE)
    elf.remove_sections([s for s in elf.sections if s.name.startswith((".debug", ".rela.debug"))])
    path = tmp_path / "stripped.ko"
    elf.write(path)
    proc = klp("convert", str(path), "--dry-run", "--json", "--symdb", str(dbs[arch]),
               "--symvers", str(TESTDATA / arch / "Module.symvers"), check=None)
    problems = json.loads(proc.stdout)["problems"]
    if arch in ("arm64", "ppc64le"):
        assert proc.returncode == 0 and problems == []
    else:
        assert proc.returncode == 4
        assert [p["symbol"] for p in problems] == ["fixture_count"]
        assert "comes from an unknown source file" in problems[0]["message"]
        assert "static" in problems[0]["message"]


def test_one_file_cannot_mean_two_copies(dbs: dict[str, pathlib.Path],
                                         tmp_path: pathlib.Path) -> None:
    elf = ElfFile.open(TESTDATA / "x86_64" / MODULE)
    anno = elf.find_section(".klp.module_relocs.vmlinux")
    assert anno is not None
    rela = next(s for s in elf.sections if s.sh_info == anno.index and s.name.startswith(".rela"))
    rows = elf.rela(rela).rows
    # livepatch-split-util.c's entries are KLP_SYMPOS(fixture_count, 3) and
    # KLP_SYMPOS(fixture_helper, 2): make the second one name fixture_count too.
    helper, count = _symbol(elf, "fixture_helper"), _symbol(elf, "fixture_count")
    last = max(i for i, r in enumerate(rows) if r[1] >> 32 == helper)
    off, info, addend = rows[last]
    rows[last] = (off, (count << 32) | (info & 0xFFFFFFFF), addend)
    messages = _dry_run(elf, tmp_path, dbs["x86_64"])
    assert any("conflicting annotations for fixture_count in livepatch-split-util.c" in m
               for m in messages)


def test_annotation_of_unknown_file_is_refused(dbs: dict[str, pathlib.Path],
                                               tmp_path: pathlib.Path) -> None:
    """Without its array symbol, an entry of livepatch-split-util.c has no file."""
    elf = ElfFile.open(TESTDATA / "x86_64" / MODULE)
    elf.remove_symbols([_symbol(elf, "split_util_relocs")])
    messages = _dry_run(elf, tmp_path, dbs["x86_64"])
    assert any("is unknown: declare the array static" in m for m in messages)


def test_split_symbols_are_livepatch_symbols(dbs: dict[str, pathlib.Path],
                                             tmp_path: pathlib.Path) -> None:
    """The added copies look like the renamed original (what the kernel reads)."""
    out = tmp_path / "split.ko"
    convert("x86_64", dbs["x86_64"], MODULE, out)
    elf = ElfFile.open(out)
    klp_symbols = [s for s in elf.symtab if s.name.startswith(".klp.sym.")]
    assert len(klp_symbols) == len({s.name for s in klp_symbols}) == 8
    for sym in klp_symbols:
        assert (sym.shndx, sym.value, sym.size) == (SHN.LIVEPATCH, 0, 0)
        assert sym.bind != 0 and sym.index >= elf.symtab_section.sh_info


SPLIT_DATA = (TESTDATA / "x86_64" / MODULE).read_bytes()
#: The byte ranges the split planner reads: symbols, relocations, annotations, DWARF.
FUZZED = [(s.sh_offset, s.sh_offset + s.sh_size) for s in ElfFile.from_bytes(SPLIT_DATA).sections
          if s.sh_size and s.name.startswith((".symtab", ".rela", ".klp", ".debug"))]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FUZZED), st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                   st.integers(0, 255)), min_size=1, max_size=4))
def test_damaged_split_module_fails_cleanly(
    dbs: dict[str, pathlib.Path], region: tuple[int, int], edits: list[tuple[float, int]]
) -> None:
    """Damage where file attribution looks: a KlpError or problems, never a traceback."""
    data = bytearray(SPLIT_DATA)
    lo, hi = region
    for where, byte in edits:
        data[lo + int(where * (hi - lo))] = byte
    exports = read_symvers(str(TESTDATA / "x86_64" / "Module.symvers"))
    with contextlib.suppress(KlpError):
        elf = ElfFile.from_bytes(bytes(data), "damaged.ko")
        plan, problems = plan_conversion(elf, DbLookup(str(dbs["x86_64"])), exports.vmlinux,
                                         exports.modules)
        if not problems and not plan.already_converted:
            apply_plan(elf, plan)
            elf.to_bytes()
