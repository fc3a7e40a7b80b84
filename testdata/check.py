#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Check the built fixtures in testdata/<arch>/ against testdata/expected.json.

Uses only the standard library and binutils `readelf`/`nm` (the host
readelf reads all four architectures).  Run after testdata/build.sh:

    python3 testdata/check.py            # check everything, exit 1 on failure
    python3 testdata/check.py --print    # also print the per-arch tables of
                                         # klp sections the README shows
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXP = json.loads((HERE / "expected.json").read_text())
ARCHES = list(EXP["arches"])
FAILS: list[str] = []


def fail(msg: str) -> None:
    FAILS.append(msg)
    print("FAIL:", msg)


def run(*args: str | Path) -> tuple[str, str]:
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True)
    return p.stdout, p.stderr


# ----------------------------------------------------------------- readelf
# The project's readelf parser (tests/support/readelf.py) is the one oracle.
sys.path.insert(0, str(HERE.parent))
from tests.support.readelf import readelf  # noqa: E402


class Elf:
    def __init__(self, path: Path) -> None:
        self.path = path
        out, _ = run("readelf", "-hW", path)
        self.header: dict[str, str] = {}
        for line in out.splitlines():
            if ":" in line and line.startswith("  "):
                k, v = line.split(":", 1)
                self.header[k.strip()] = v.strip()
        oracle = readelf(str(path))
        self.sections: list[dict[str, Any]] = [
            {"idx": n, "name": name, "type": typ, "off": off, "size": size, "flags": flg,
             "link": lk, "info": inf}
            for n, name, typ, _addr, off, size, _es, flg, lk, inf, _al in oracle.sections
        ]
        self.secname = {s["idx"]: s["name"] for s in self.sections}
        self.syms: list[dict[str, Any]] = [
            {"num": n, "value": value, "type": typ, "bind": bind, "ndx": ndx, "name": name}
            for n, value, _size, typ, bind, _vis, ndx, name in oracle.symbols
        ]
        # source file of each local symbol = the preceding STT_FILE symbol
        cur = None
        for s in self.syms:
            if s["type"] == "FILE":
                cur = s["name"]
            s["file"] = cur if s["bind"] == "LOCAL" else None
        self.relocs: dict[str, list[dict[str, Any]]] = {
            sec: [{"off": off, "type": typ, "sym": name, "addend": add}
                  for off, _info, typ, name, add in rows]
            for sec, rows in oracle.relocs.items()
        }

    def section(self, name: str) -> dict[str, Any] | None:
        for s in self.sections:
            if s["name"] == name:
                return s
        return None

    def data(self, name: str) -> bytes:
        s = self.section(name)
        assert s is not None, name
        with open(self.path, "rb") as f:
            f.seek(s["off"])
            return f.read(s["size"])

    def sym_section(self, s: dict[str, Any]) -> str:
        ndx = str(s["ndx"])
        return self.secname.get(int(ndx), ndx) if ndx.isdigit() else ndx

    def defined(self, name: str) -> list[dict[str, Any]]:
        return [
            s
            for s in self.syms
            if s["name"] == name and s["ndx"] != "UND" and s["type"] not in ("SECTION", "FILE")
        ]

    def undefined(self) -> set[str]:
        return {s["name"] for s in self.syms if s["ndx"] == "UND" and s["name"]}

    def modinfo(self) -> list[str]:
        return [x.decode() for x in self.data(".modinfo").split(b"\0") if x]


# ----------------------------------------------------------------- checks
def check_readelf_clean(arch: str) -> None:
    d = HERE / arch
    for p in sorted(d.rglob("*")):
        if p.is_file() and (p.suffix in (".o", ".ko") or p.name == "vmlinux"):
            _, err = run("readelf", "-aW", "--lint", p)
            bad = [ln for ln in err.splitlines() if "has a size of zero" not in ln]
            if bad:
                fail(f"{p.relative_to(HERE)}: readelf: {bad[0]}")


def check_header(arch: str, elf: Elf, etype: str) -> None:
    a = EXP["arches"][arch]
    h = elf.header
    if not h.get("Type", "").startswith(etype):
        fail(f"{elf.path.name}: type {h.get('Type')} != {etype}")
    if h.get("Machine") != a["machine"]:
        fail(f"{elf.path.name}: machine {h.get('Machine')}")
    if a["endian"] not in h.get("Data", ""):
        fail(f"{elf.path.name}: data {h.get('Data')}")
    if not h.get("Flags", "").startswith(a["e_flags"]):
        fail(f"{elf.path.name}: e_flags {h.get('Flags')}")


def check_vmlinux(arch: str) -> None:
    d = HERE / arch
    vm = Elf(d / "vmlinux")
    check_header(arch, vm, "EXEC")
    # ppc64 ld adds an unnamed FILE symbol before its own .TOC. symbol
    files = [s["name"] for s in vm.syms if s["type"] == "FILE" and s["name"]]
    if files != EXP["vmlinux"]["link_order"]:
        fail(f"{arch} vmlinux FILE symbols {files}")
    base = EXP["arches"][arch]["vmlinux_base"]
    objs = {f: Elf(d / "kernel" / f.replace(".c", ".o")) for f in EXP["vmlinux"]["link_order"]}

    # System.map is nm -n minus what kallsyms drops; positions come from it
    smap = [ln.split() for ln in (d / "System.map").read_text().splitlines()]
    if smap[0][0] != base or smap[0][2] != "_text":
        fail(f"{arch} System.map starts with {smap[0]}")
    addrs = [int(x[0], 16) for x in smap]
    if addrs != sorted(addrs):
        fail(f"{arch} System.map not sorted")
    by_name: dict[str, list[int]] = defaultdict(list)
    for a, _t, n in smap:
        by_name[n].append(int(a, 16))
    for bad in ("__kstrtab_", "__kstrtabns_", "KERNEL_BASE"):
        if any(n.startswith(bad) for n in by_name):
            fail(f"{arch} System.map has {bad}*")

    def input_section(fname: str, name: str, typ: str) -> str:
        o = objs[fname]
        cands = [s for s in o.defined(name) if s["type"] == typ]
        return o.sym_section(cands[0]) if len(cands) == 1 else "?"

    for name, spec in EXP["vmlinux"]["duplicates"].items():
        defs = vm.defined(name)
        symtab_files = [s["file"] for s in defs]
        if symtab_files != spec["by_symtab"]:
            fail(f"{arch} {name}: symtab order {symtab_files}")
        ordered = sorted(defs, key=lambda s: s["value"])
        got = [[s["file"], s["type"], input_section(s["file"], name, s["type"])] for s in ordered]
        if got != spec["by_address"]:
            fail(f"{arch} {name}: by address {got}")
        if by_name[name] != [s["value"] for s in ordered]:
            fail(f"{arch} {name}: System.map {by_name[name]}")
    for name, (fname, typ, bind, isec) in EXP["vmlinux"]["unique"].items():
        defs = vm.defined(name)
        if len(defs) != 1 or len(by_name[name]) != 1:
            fail(f"{arch} {name}: {len(defs)} definitions, {len(by_name[name])} in System.map")
            continue
        s = defs[0]
        f = s["file"] if bind == "LOCAL" else fname
        o = objs[fname]
        od = o.defined(name)
        found: list[Any] = [f, s["type"], s["bind"], o.sym_section(od[0]) if od else "?"]
        if found != [fname, typ, bind, isec]:
            fail(f"{arch} {name}: {found}")

    # Module.symvers
    want = sorted(
        [[s, "vmlinux", "EXPORT_SYMBOL", ""] for s in EXP["arches"][arch]["arch_exports"]]
        + [r for r in EXP["module_symvers"]]
    )
    got = []
    for line in (d / "Module.symvers").read_text().splitlines():
        f = line.split("\t")
        if len(f) != 5 or f[0] != "0x00000000":
            fail(f"{arch} Module.symvers line {line!r}")
        got.append(f[1:])
    if sorted(got) != want:
        fail(f"{arch} Module.symvers {sorted(got)} != {want}")
    # every export has its __ksymtab_ entry in vmlinux / the module
    for sym, mod, _t, _ns in got:
        target = vm if mod == "vmlinux" else Elf(d / (mod + ".ko"))
        if not target.defined("__ksymtab_" + sym) or not target.defined(sym):
            fail(f"{arch} export {sym} missing in {mod}")


def check_fixture_mod(arch: str) -> None:
    d = HERE / arch
    spec = EXP["fixture_mod"]
    ko = Elf(d / spec["path"])
    check_header(arch, ko, "REL")
    files = [s["name"] for s in ko.syms if s["type"] == "FILE"]
    if files != spec["link_order"]:
        fail(f"{arch} fixture-mod FILE symbols {files}")
    for name, dspec in spec["duplicates"].items():
        got = [[s["file"], s["type"], ko.sym_section(s)] for s in ko.defined(name)]
        if got != dspec["by_symtab"]:
            fail(f"{arch} fixture-mod {name}: {got}")
    for name, (fname, typ, bind, isec) in spec["unique"].items():
        defs = ko.defined(name)
        got = [[s["file"] or fname, s["type"], s["bind"], ko.sym_section(s)] for s in defs]
        if got != [[fname, typ, bind, isec]]:
            fail(f"{arch} fixture-mod {name}: {got}")
    check_modinfo(arch, ko, spec["modinfo"])
    tm = ko.section(".gnu.linkonce.this_module")
    if not tm or tm["size"] != 0x380:
        fail(f"{arch} fixture-mod .gnu.linkonce.this_module {tm}")


def check_modinfo(arch: str, ko: Elf, want: list[str]) -> None:
    mi = ko.modinfo()
    vermagic = [x for x in mi if x.startswith("vermagic=")]
    if len(vermagic) != 1 or not vermagic[0].startswith("vermagic=" + EXP["kernel_release"] + " "):
        fail(f"{arch} {ko.path.name}: vermagic {vermagic}")
    rest = [x for x in mi if not x.startswith("vermagic=")]
    if rest != want:
        fail(f"{arch} {ko.path.name}: modinfo {rest} != {want}")


def annotation_entries(arch: str, ko: Elf) -> dict[str, list[list[Any]]]:
    """Pair each 12-byte entry with the relocation at its offset."""
    fmt = ">I" if EXP["arches"][arch]["endian"] == "big" else "<I"
    res: dict[str, list[list[Any]]] = {}
    for s in ko.sections:
        if not s["name"].startswith(".klp.module_relocs."):
            continue
        obj = s["name"][len(".klp.module_relocs.") :]
        data = ko.data(s["name"])
        rels = {r["off"]: r for r in ko.relocs.get(".rela" + s["name"], [])}
        if len(data) % 12 or len(rels) != len(data) // 12:
            fail(f"{arch} {ko.path.name}: {s['name']} size {len(data)} relocs {len(rels)}")
        entries = []
        for i in range(len(data) // 12):
            r = rels.get(12 * i)
            if r is None or r["type"] != EXP["arches"][arch]["abs64"] or r["addend"] != 0:
                fail(f"{arch} {ko.path.name}: {s['name']} entry {i} reloc {r}")
                continue
            if data[12 * i : 12 * i + 8] != bytes(8):
                fail(f"{arch} {ko.path.name}: {s['name']} entry {i} pointer slot not zero")
            entries.append([r["sym"], struct.unpack(fmt, data[12 * i + 8 : 12 * i + 12])[0]])
        res[obj] = entries
    return res


def klp_sections(
    arch: str, ko: Elf, refs: dict[str, dict[str, Any]]
) -> dict[tuple[str, str], list[str]]:
    """Which .klp.rela.<obj>.<sec> a converter should produce: (obj, sec) -> reloc types."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sec, rels in ko.relocs.items():
        if sec.startswith(".rela.klp.module_relocs."):
            continue
        target = sec[len(".rela") :]
        for r in rels:
            ref = refs.get(r["sym"])
            if ref and ref.get("object") and ref.get("pos") is not None:
                out[(ref["object"], target)].append(r["type"])
    return out


def check_livepatch(arch: str, name: str, spec: dict[str, Any], show: bool) -> None:
    d = HERE / arch
    ko = Elf(d / name)
    check_header(arch, ko, "REL")
    check_modinfo(arch, ko, spec["modinfo"])
    refs = {r["symbol"]: r for r in spec["references"]}
    never = set(EXP["arches"][arch]["never_convert"])
    und = ko.undefined()
    if und != set(refs) | never:
        fail(f"{arch} {name}: UND {sorted(und ^ (set(refs) | never))} differ")
    used = {
        r["sym"]
        for sec, rels in ko.relocs.items()
        for r in rels
        if not sec.startswith(".rela.klp.module_relocs.")
    }
    for sym in refs:
        if sym not in used:
            fail(f"{arch} {name}: {sym} has no relocation outside the annotations")
    got = annotation_entries(arch, ko)
    want = {k: [list(e) for e in v] for k, v in spec["annotations"].items()}
    if got != want:
        fail(f"{arch} {name}: annotations {got} != {want}")
    for obj, entries in want.items():
        for sym, pos in entries:
            if refs[sym]["object"] != obj or refs[sym]["pos"] != pos:
                fail(f"{arch} {name}: annotation {obj} {sym},{pos} vs references")
    table = klp_sections(arch, ko, refs)
    if name == "livepatch-fixture.ko":
        texts = {t for (o, t) in table if o == "vmlinux" and t.startswith(".text")}
        if texts != {".text", ".text.unlikely", ".text.klp_extra"}:
            fail(f"{arch} {name}: vmlinux text targets {texts}")
        jt = [r for r in ko.relocs.get(".rela__jump_table", []) if r["sym"] == "fixture_key"]
        if len(jt) != 1 or jt[0]["addend"] != 1:
            fail(f"{arch} {name}: __jump_table fixture_key {jt}")
        rm = [r["sym"] for r in ko.relocs.get(".rela.data..read_mostly", [])]
        if rm != ["fixture_rm_value"]:
            fail(f"{arch} {name}: .data..read_mostly relocs {rm}")
    if show:
        print(f"\n{arch} {name}:")
        for (obj, sec), types in sorted(table.items()):
            counts: defaultdict[str, int] = defaultdict(int)
            for t in types:
                counts[t] += 1
            desc = ", ".join(f"{t} x{n}" if n > 1 else t for t, n in sorted(counts.items()))
            print(f"  .klp.rela.{obj}.{sec}: {desc}")


def main() -> int:
    show = "--print" in sys.argv
    for arch in ARCHES:
        if not (HERE / arch).is_dir():
            fail(f"{arch}: not built")
            continue
        check_readelf_clean(arch)
        check_vmlinux(arch)
        check_fixture_mod(arch)
        for name, spec in EXP["livepatches"].items():
            check_livepatch(arch, name, spec, show)
    print("check.py:", "OK" if not FAILS else f"{len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
