"""Which source file each symbol comes from: the DWARF unit's path where there is one.

Two files called core.c in different folders each define a static ``twin``; their
STT_FILE symbols both say ``core.c``, so only DWARF tells the copies apart. Built
here for the four architectures, as a linked image (a vmlinux) and as a
relocatable object (a module); binutils addr2line is the oracle for the linked
image of the Debian kernel.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from klp.elfcodec.constants import STB
from klp.elfcodec.elffile import ElfFile
from klp.symdb.format import SymbolDB
from klp.symdb.scan import scan_module, scan_vmlinux, source_files
from tests.support.cli import klp
from tests.support.cross import cross_tools
from tests.support.paths import ARCHES, realdata_or_skip

SOURCES = {
    "kernel/sched/core.c": "static int twin(int x) { return x + 1; }\n"
                           "int sched_entry(int x) { return twin(x); }\n"
                           "static int sched_count; int *sched_counter(void) "
                           "{ return &sched_count; }\n",
    "kernel/cgroup/core.c": "static int twin(int x) { return x * 3; }\n"
                            "int cgroup_entry(int x) { return twin(x) + 2; }\n",
}


def _build(arch: str, folder: pathlib.Path, link: list[str]) -> pathlib.Path:
    gcc, ld = cross_tools(arch, "gcc", "ld")
    objects = []
    for source, text in SOURCES.items():
        path = folder / source
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        obj = path.with_suffix(".o")
        # kbuild compiles with paths relative to the tree: the unit names are those
        subprocess.run([gcc, "-c", "-O2", "-g", "-fno-inline", "-o", str(obj), source],
                       cwd=folder, check=True)
        objects.append(str(obj))
    out = folder / "linked"
    subprocess.run([ld, *link, "-o", str(out), *objects], check=True)
    return out


def _files(obj: object) -> dict[bytes, list[bytes]]:
    found: dict[bytes, list[bytes]] = {}
    for name, file in zip(obj.names, obj.files, strict=True):  # type: ignore[attr-defined]
        found.setdefault(name, []).append(file)
    return found


@pytest.mark.parametrize("arch", ARCHES)
def test_same_named_files_apart_in_a_linked_image(arch: str, tmp_path: pathlib.Path) -> None:
    image = _build(arch, tmp_path, ["-e", "sched_entry"])
    files = _files(scan_vmlinux(ElfFile.open(image), "vmlinux"))
    assert sorted(files[b"twin"]) == [b"kernel/cgroup/core.c", b"kernel/sched/core.c"]
    assert files[b"cgroup_entry"] == [b"kernel/cgroup/core.c"]  # a global function
    assert files[b"sched_count"] == [b"kernel/sched/core.c"]  # data: through its file
    assert files[b"sched_counter"] == [b"kernel/sched/core.c"]


@pytest.mark.parametrize("arch", ARCHES)
def test_same_named_files_apart_in_a_module(arch: str, tmp_path: pathlib.Path) -> None:
    module = _build(arch, tmp_path, ["-r"])
    files = _files(scan_module(ElfFile.open(module), "twins.ko"))
    assert sorted(files[b"twin"]) == [b"kernel/cgroup/core.c", b"kernel/sched/core.c"]
    assert files[b"sched_entry"] == [b"kernel/sched/core.c"]


def test_without_debug_info_the_file_symbol_counts(tmp_path: pathlib.Path) -> None:
    image = _build("x86_64", tmp_path, ["-e", "sched_entry", "--strip-debug"])
    files = _files(scan_vmlinux(ElfFile.open(image), "vmlinux"))
    assert files[b"twin"] == [b"core.c", b"core.c"] and files[b"cgroup_entry"] == [b""]


@pytest.mark.realdata
def test_debian_vmlinux_units_are_the_file_symbols() -> None:
    """Each local symbol's unit path ends in the name its STT_FILE symbol records
    (readelf is the oracle of the unit ranges: tests/elfcodec/test_dwarf.py), and
    same-named statics of files with one base name come apart."""
    env = realdata_or_skip("cloud-amd64")
    elf = ElfFile.open(env["VMLINUX"])
    table = elf.symtab
    rows = [i for i in range(1, len(table)) if table.bind(i) == STB.LOCAL]
    paths = source_files(elf, rows)
    assert sum(b"/" in p for p in paths) > 40000
    plains = table.file_names(table.file_symbols(rows))
    for index, path, plain in zip(rows, paths, plains, strict=True):
        assert path.rsplit(b"/", 1)[-1] == plain, (table.name(index), path, plain)
    twins = _files(scan_vmlinux(elf, "vmlinux"))[b"umask_show"]
    assert len(twins) == len(set(twins)) > 1, twins


@pytest.mark.realdata
def test_debug_copies_give_distro_modules_their_files(tmp_path: pathlib.Path) -> None:
    """Debian installs modules without file symbols or DWARF; --debug-modules points
    at the -dbg package's copies, which give each symbol its unit back."""
    env = realdata_or_skip("cloud-amd64")
    modules = tmp_path / "modules"
    (modules / "kernel" / "fs").mkdir(parents=True)
    shutil.copy(pathlib.Path(env["MODULES_DIR"]) / "kernel/fs/binfmt_misc.ko",
                modules / "kernel/fs")
    plain, debug = tmp_path / "plain.klp", tmp_path / "debug.klp"
    klp("symdb", "build", "--modules", str(modules), "-o", str(plain))
    klp("symdb", "build", "--modules", str(modules), "--debug-modules",
        env["DEBUG_MODULES_DIR"], "-o", str(debug))
    names = ["s_ops", "bm_status_read", "enabled"]
    assert {r.file for recs in SymbolDB(str(plain)).lookup(names).values() for r in recs} \
        == {""}
    found = SymbolDB(str(debug)).lookup(names)
    assert {r.file for recs in found.values() for r in recs} == {"fs/binfmt_misc.c"}
    # the positions are the installed module's own
    assert [(r.pos, r.value) for r in found["s_ops"]] == \
        [(r.pos, r.value) for r in SymbolDB(str(plain)).lookup(["s_ops"])["s_ops"]]


def test_a_debug_copy_of_another_kind_is_refused(tmp_path: pathlib.Path) -> None:
    t = pathlib.Path(__file__).resolve().parent.parent.parent / "testdata"
    modules, debug = tmp_path / "modules", tmp_path / "debug"
    modules.mkdir()
    debug.mkdir()
    shutil.copy(t / "x86_64/modules/fixture-mod.ko", modules)
    shutil.copy(t / "arm64/modules/fixture-mod.ko", debug)  # another machine
    proc = klp("symdb", "build", "--modules", str(modules), "--debug-modules", str(debug),
               "-o", str(tmp_path / "s.klp"), check=3)
    assert "not a debug copy of" in proc.stderr
    missing = klp("symdb", "build", "--modules", str(modules), "--debug-modules",
                  str(tmp_path / "none"), "-o", str(tmp_path / "s.klp"), check=3)
    assert "not a folder" in missing.stderr
