"""What a person sees from ``klp convert``: legible at 80 columns, every name shown as
it is (markup and odd bytes included), never a traceback while printing."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from klp.elfcodec.elffile import ElfFile
from tests.support.paths import ROOT, TESTDATA

T = TESTDATA / "x86_64"


def run(*args: str, columns: int = 80, encoding: str = "utf-8:strict"
        ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONIOENCODING": encoding,
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "klp", *args], capture_output=True,
                          text=True, errors="replace", env=env, check=False)


def ambiguous(db: pathlib.Path, module: pathlib.Path = T / "livepatch-ambiguous.ko",
              *extra: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    return run("convert", str(module), "--dry-run", "--symdb", str(db), "--symvers",
               str(T / "Module.symvers"), *extra, columns=columns)


@pytest.mark.parametrize("columns", [80, 160])
def test_candidates_are_legible(dbs: dict[str, pathlib.Path], columns: int) -> None:
    """Every line fits, and the columns that tell candidates apart (file, address)
    are whole, whatever the width."""
    proc = ambiguous(dbs["x86_64"], columns=columns)
    assert proc.returncode == 4, proc.stderr
    lines = proc.stderr.splitlines()
    assert max(map(len, lines)) <= columns, "\n".join(lines)
    # no line padded out to the width: logs and copied text stay clean
    assert not [line for line in lines if line.endswith(" ")], "\n".join(lines)
    report = json.loads(ambiguous(dbs["x86_64"], T / "livepatch-ambiguous.ko",
                                  "--json").stdout)
    for problem in report["problems"]:
        for c in problem["candidates"]:
            assert any(c["file"] in line and not re.search(rf"\S{re.escape(c['file'])}", line)
                       for line in lines), c["file"]
            assert any(c["address"] in line for line in lines), c["address"]
    # the use is named by its function, not only by section+offset
    assert "used in livepatch_ambiguous_func+0x" in proc.stderr


def test_uses_show_function_and_line_with_debug_info(dbs: dict[str, pathlib.Path]) -> None:
    """livepatch-split is built with -g: its uses carry file:line (checked against
    binutils addr2line in tests/elfcodec/test_dwarf.py)."""
    elf = ElfFile.open(T / "livepatch-split.ko")
    anno = elf.find_section(".klp.module_relocs.vmlinux")
    assert anno is not None
    anno.data = bytes(len(anno.data))  # every entry position 0: fixture_count is ambiguous
    module = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"split-{os.getpid()}.ko"
    elf.write(module)
    try:
        proc = ambiguous(dbs["x86_64"], module, "--json")
    finally:
        module.unlink()
    refs = [r for p in json.loads(proc.stdout)["problems"] for r in p["references"]
            if r["function"]]
    assert refs and all(re.fullmatch(r"livepatch/livepatch-split-\w+\.c:\d+", r["line"])
                        for r in refs if r["target"] == ".text")


def test_odd_names_are_shown_not_interpreted(dbs: dict[str, pathlib.Path],
                                             tmp_path: pathlib.Path) -> None:
    """A symbol name with rich markup, a terminal escape and a non-UTF-8 byte, printed
    on a strict UTF-8 stream (as on an en_US.UTF-8 desktop)."""
    elf = ElfFile.open(T / "livepatch-ambiguous.ko")
    table = elf.symtab
    index = next(i for i in range(len(table)) if table.name(i) == "mod_value")
    odd = "mod[bold]\x1b[31m\udcff[/]"
    elf.rename_symbol(index, odd)
    module = tmp_path / "odd[bold].ko"
    elf.write(module)
    proc = ambiguous(dbs["x86_64"], module)
    assert proc.returncode == 4 and "Traceback" not in proc.stderr, proc.stderr
    assert "mod[bold]\\x1b[31m\\xff[/] is not in the symbol database" in proc.stderr
    assert "\x1b" not in proc.stderr + proc.stdout and "odd[bold].ko" in proc.stdout
