"""``klp convert`` on the bundled livepatches, and the edits that make a broken one."""

from __future__ import annotations

import pathlib
import re
import subprocess
from collections.abc import Callable

from klp.elfcodec.constants import SHF, SHT, r_sym
from klp.elfcodec.elffile import ElfFile
from tests.support.cli import klp
from tests.support.paths import TESTDATA


def convert(arch: str, db: pathlib.Path, name: str, out: pathlib.Path, *extra: str,
            check: int | None = 0) -> subprocess.CompletedProcess[str]:
    t = TESTDATA / arch
    return klp("convert", str(t / name), "-o", str(out), "--symdb", str(db),
               "--symvers", str(t / "Module.symvers"), *extra, check=check)


def edited(tmp_path: pathlib.Path, arch: str, edit: Callable[[ElfFile], None],
           name: str = "livepatch-fixture.ko") -> pathlib.Path:
    """A copy of the bundled livepatch ``name``, edited with the codec."""
    elf = ElfFile.open(TESTDATA / arch / name)
    edit(elf)
    path = tmp_path / f"edited-{arch}.ko"
    elf.write(path)
    return path


#: KLP_RELOC_SYMBOL names for the two ambiguous names of livepatch-ambiguous.ko:
#: vmlinux's fixture_count of core.c and fixture_mod's mod_value of fixture-util.c
#: (testdata/expected.json), in v3's spelling and in v1's (a comma).
RELOC_SYMBOLS = {"fixture_count": ".klp.sym.rela.vmlinux.vmlinux.fixture_count.2",
                 "mod_value": ".klp.sym.rela.fixture_mod.fixture_mod.mod_value,2"}


def rename_symbols(names: dict[str, str]) -> Callable[[ElfFile], None]:
    """Rename symbols, as an asm label on their declarations would."""
    def edit(elf: ElfFile) -> None:
        table = elf.symtab
        for index in range(len(table)):
            new = names.get(table.name(index))
            if new is not None:
                elf.rename_symbol(index, new)
    return edit


def replace_string(old: bytes, new: bytes) -> Callable[[ElfFile], None]:
    """Replace a whole NUL-terminated string in the module's string sections."""
    def edit(elf: ElfFile) -> None:
        for sec in elf.sections:
            if sec.sh_flags & SHF.STRINGS and sec.sh_flags & SHF.ALLOC:
                data, count = re.subn(rb"(?<![^\0])" + re.escape(old) + rb"\0",
                                      new.ljust(len(old), b"\0") + b"\0", sec.data)
                if count:
                    sec.data = data
    return edit


def unregister(obj: bytes) -> Callable[[ElfFile], None]:
    """Drop the klp_object entry whose name is ``obj`` (its name and funcs pointers),
    so the array ends before it, as if the author forgot it."""
    def edit(elf: ElfFile) -> None:
        table = elf.symtab
        for rela in elf.sections_of_type(SHT.RELA):
            target = elf.rela_target(rela)
            if target is None or target.sh_flags & SHF.EXECINSTR or not rela.sh_size:
                continue
            rows = elf.rela(rela).rows
            entry = None
            for off, info, addend in rows:
                shndx = table.section_of(r_sym(info))
                if shndx is None or not elf.sections[shndx].sh_flags & SHF.STRINGS:
                    continue
                start = table.value(r_sym(info)) + addend
                if elf.sections[shndx].data[start:].startswith(obj + b"\0") \
                        and off + 8 in {r[0] for r in rows}:
                    entry = off
            if entry is not None:
                elf.rela(rela).rows = [r for r in rows if r[0] not in (entry, entry + 8)]
    return edit
