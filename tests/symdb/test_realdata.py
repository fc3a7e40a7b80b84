"""symdb on Debian's own kernels: positions proven against the kernel's own data.

Needs tests/realdata/fetch.sh; skipped without the data unless KLP_REQUIRE_REALDATA=1.
"""

from __future__ import annotations

import lzma
import os
import pathlib
import shutil
import subprocess
from collections import Counter, defaultdict

import pytest

from klp.elfcodec.elffile import ElfFile
from klp.symdb.format import SymbolDB
from klp.symdb.kallsyms_table import CODE_ONLY_KEY, read_table
from klp.symdb.model import ObjectSymbols
from klp.symdb.scan import read_system_map, scan_vmlinux
from tests.support.cli import klp
from tests.support.paths import realdata_or_skip

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def by_name(names: list[bytes], values: list[int]) -> dict[bytes, list[int]]:
    found: dict[bytes, list[int]] = defaultdict(list)
    for n, v in zip(names, values, strict=True):
        found[n].append(v)
    return found


def symtab_order_differs(vmlinux: ObjectSymbols, elf: ElfFile, names: list[bytes]) -> int:
    """How many of ``names`` a .symtab-order implementation would get wrong."""
    table = elf.symtab
    strtab = table.strtab.data
    wanted = set(names)
    in_symtab: dict[bytes, list[int]] = defaultdict(list)
    addresses = set(vmlinux.values)
    for row in table.rows:
        if row[0] and row[3] and row[4] in addresses:
            name = strtab[row[0] : strtab.index(b"\0", row[0])]
            if name in wanted:
                in_symtab[name].append(row[4])
    ours = by_name(vmlinux.names, vmlinux.values)
    return sum(1 for n in names if in_symtab[n] != ours[n])


@pytest.mark.parametrize("name", ["cloud-amd64", "amd64"])
def test_vmlinux_positions_equal_system_map(name: str) -> None:
    """Every repeated name (927 on cloud-amd64) has System.map's order; 69 of
    them are not in .symtab order, so a symtab-order scanner fails this."""
    env = realdata_or_skip(name)
    elf = ElfFile.open(env["VMLINUX"])
    ours = scan_vmlinux(elf, "vmlinux")
    smap = read_system_map(env["SYSTEM_MAP"])  # minus what kallsyms drops
    assert sorted(zip(ours.values, ours.names, strict=True)) == sorted(
        zip(smap.values, smap.names, strict=True))
    mine, theirs = by_name(ours.names, ours.values), by_name(smap.names, smap.values)
    repeated = [n for n, addrs in theirs.items() if len(addrs) > 1]
    assert len(repeated) > 900
    assert [n for n in repeated if mine[n] != theirs[n]] == []
    assert symtab_order_differs(ours, elf, repeated) > 50


@pytest.mark.parametrize("name", ["cloud-amd64", "amd64"])
def test_kernel_table_equals_the_rules(name: str) -> None:
    """The kallsyms table in Debian's 6.1 vmlinux lists exactly the names that
    System.map read by the rules gives, as often: the rules, which the database uses
    without a vmlinux, are this kernel's."""
    env = realdata_or_skip(name)
    elf = ElfFile.open(env["VMLINUX"])
    symtab = elf.symtab
    names = symtab.raw_names(range(len(symtab)))
    table = read_table(elf, lambda n: symtab.value(names.index(n)))
    assert table is not None
    smap = read_system_map(env["SYSTEM_MAP"])
    assert Counter(table.names) == Counter(smap.names)


@pytest.mark.parametrize(("name", "nm"), [("ppc64el", "powerpc64le-linux-gnu-nm")])
def test_vmlinux_equals_nm_through_mksysmap(name: str, nm: str, tmp_path: pathlib.Path) -> None:
    """Without a System.map, on a vmlinux that carries both .symtab and .dynsym and a
    kernel built without CONFIG_KALLSYMS_ALL (Debian's ppc64el 6.1, so no livepatch):
    what its kallsyms table lists is ``nm -n`` filtered as mksysmap and kallsyms do
    (letters, hidden symbols, address order), less the data symbols."""
    env = realdata_or_skip(name)
    tool = shutil.which(nm)
    if tool is None:
        pytest.skip(f"{nm} not installed")
    out = subprocess.run([tool, "-n", env["VMLINUX"]], capture_output=True, check=True,
                         env={**os.environ, "LC_ALL": "C"}).stdout
    smap = tmp_path / "System.map"
    smap.write_bytes(b"\n".join(ln for ln in out.splitlines() if not ln.startswith(b" ")))
    ours = scan_vmlinux(ElfFile.open(env["VMLINUX"]), "vmlinux")
    assert ours.meta[CODE_ONLY_KEY] == "code"
    theirs = read_system_map(str(smap))
    # without --all-symbols, kallsyms.c keeps what lies in [_stext, _etext] and
    # [_sinittext, _einittext], less other names at either end (symbol_valid)
    at = {n: v for v, n in zip(theirs.values, theirs.names, strict=True)}
    ranges = [(at[b"_stext"], at[b"_etext"]), (at[b"_sinittext"], at[b"_einittext"])]
    ends = {at[b"_etext"]: b"_etext", at[b"_einittext"]: b"_einittext"}
    code = [(v, n, c) for v, n, c in zip(theirs.values, theirs.names, theirs.letters,
                                          strict=True)
            if any(lo <= v <= hi for lo, hi in ranges) and ends.get(v, n) == n]
    # the same symbols; equal addresses may be ordered differently (kallsyms' tie-breaks)
    assert sorted(zip(ours.values, ours.names, ours.letters, strict=True)) == sorted(code)
    mine = by_name(ours.names, ours.values)
    by_map = by_name([n for _, n, _ in code], [v for v, _, _ in code])
    repeated = [n for n, addrs in by_map.items() if len(addrs) > 1]
    assert len(repeated) > 200 and all(mine[n] == by_map[n] for n in repeated)


def test_cloud_amd64_full_build(tmp_path: pathlib.Path) -> None:
    """The whole distro kernel through the command line, with the headers' exports."""
    env = realdata_or_skip("cloud-amd64")
    out = tmp_path / "symbols.klp"
    symvers = pathlib.Path(env["KDIR"]) / "Module.symvers"
    proc = klp("symdb", "build", "--vmlinux", env["VMLINUX"], "--modules", env["MODULES_DIR"],
               "--symvers", str(symvers), "-o", str(out))
    assert "skipped" not in proc.stderr and "warning" not in proc.stderr
    db = SymbolDB(str(out))
    objects = db.objects()
    assert len(objects) == int(env["MODULE_COUNT"]) + 1 and objects[0] == "vmlinux"
    assert all("-" not in o and "." not in o for o in objects)
    assert db.kernel_release == env["KVER"] and db.vermagic.startswith(env["KVER"] + " ")
    found = db.lookup(["schedule", "s_next", "hash_lock", "saved_command_line"])
    assert [r.exported for r in found["schedule"]] == [True]
    assert [r.pos for r in found["s_next"] if r.obj == "vmlinux"] == [1, 2, 3, 4]
    assert not db.exported("saved_command_line") and db.exported("schedule")
    smap = read_system_map(env["SYSTEM_MAP"])
    assert [r.value for r in found["hash_lock"]] == by_name(smap.names, smap.values)[b"hash_lock"]
    # modules.builtin: modules this kernel has in vmlinux, by kernel name, none installed
    builtin = (pathlib.Path(env["MODULES_DIR"]) / "modules.builtin").read_text().split()
    assert db.builtin_modules == {pathlib.Path(p).name.removesuffix(".ko").replace("-", "_")
                                  for p in builtin}
    assert "binfmt_elf" in db.builtin_modules and not db.builtin_modules & set(objects)


def test_xz_modules_equal_decompressed(tmp_path: pathlib.Path) -> None:
    """Debian 6.12 ships .ko.xz: the records equal those of the decompressed files."""
    env = realdata_or_skip("amd64-xz")
    root = pathlib.Path(env["MODULES_DIR"])
    plain = tmp_path / "plain"
    count = 0
    for path in sorted(root.rglob("*.ko.xz")):
        dest = plain / path.relative_to(root).with_suffix("")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(lzma.decompress(path.read_bytes()))
        count += 1
    assert count > 1000
    klp("symdb", "build", "--modules", str(root), "-o", str(tmp_path / "xz.klp"))
    klp("symdb", "build", "--modules", str(plain), "-o", str(tmp_path / "plain.klp"))
    xz, dec = SymbolDB(str(tmp_path / "xz.klp")), SymbolDB(str(tmp_path / "plain.klp"))
    assert xz.objects() == dec.objects() and len(xz.objects()) == count
    assert list(xz) == list(dec)
    assert xz.vermagic == dec.vermagic and xz.vermagic.startswith(env["KVER"])


@pytest.mark.parametrize("name", ["arm64", "ppc64el", "s390x"])
def test_foreign_modules_scan_cleanly(name: str, tmp_path: pathlib.Path) -> None:
    """Every module of three more architectures (s390x big-endian) scans without error."""
    env = realdata_or_skip(name)
    out = tmp_path / "m.klp"
    proc = klp("symdb", "build", "--modules", env["MODULES_DIR"], "-o", str(out))
    assert "skipped" not in proc.stderr
    db = SymbolDB(str(out))
    assert len(db.objects()) == int(env["MODULE_COUNT"])
    assert db.arch == {"arm64": "arm64", "ppc64el": "ppc64le", "s390x": "s390x"}[name]
    # the loader keeps arm64's mapping symbols as module kallsyms symbols
    dollar = db.lookup(["$x"]).get("$x", [])
    assert bool(dollar) == (name == "arm64")
    # ftrace call sites: powerpc's kvm.ko overrides __weak kvm_arch_* functions of
    # virt/kvm inside the module, whose bodies then share their neighbours' ranges
    shared = {obj: found for obj in db.objects() if (found := db.shared_call_sites(obj))}
    assert shared == ({"kvm": {".text+0xd2c8": (0xc, 0xbc), ".text+0x10548": (0xc, 0x57c),
                               ".text+0x10e78": (0xc, 0x3c), ".text+0x137f0": (0x4, 0x14)}}
                      if name == "ppc64el" else {}), shared
    assert all(db.shared_call_sites(obj) is not None for obj in db.objects())
