"""The tree stays ruff- and mypy-clean (the project's own promise)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

import pytest

from tests.support.paths import ROOT


@pytest.mark.parametrize("tool", [["ruff", "check", "klp", "tests", "tools"], ["mypy"]],
                         ids=["ruff", "mypy"])
def test_clean(tool: list[str]) -> None:
    if shutil.which(tool[0]) is None:
        pytest.skip(f"{tool[0]} not installed")
    cmd = [sys.executable, "-m", *tool]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_codec_validates_without_assert() -> None:
    """``python -O`` drops assert statements: the codec checks with real errors."""
    found = [f"{path.relative_to(ROOT)}:{node.lineno}"
             for path in sorted((ROOT / "klp" / "elfcodec").glob("*.py"))
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Assert)]
    assert found == []


# -- the codec's vocabulary stays the only one ------------------------------------------

#: Shifts and masks that take ELF fields apart (st_info, r_info) or put them together.
_FIELD_ARITHMETIC = {ast.RShift: {4, 32}, ast.LShift: {4, 32}, ast.BitAnd: {0xF, 0xFFFFFFFF}}
#: Header fields whose values have names (ET, EM, SHT, SHN, ...).
_NAMED_FIELDS = {"e_type", "e_machine", "sh_type", "sh_flags", "st_shndx", "shndx", "type",
                 "bind", "st_info", "info"}


def _decoding_by_hand(tree: ast.AST) -> list[tuple[int, str]]:
    """Where code takes ELF records apart itself: a row indexed by a number, a shift
    or mask of a packed field, a named field compared with a bare number."""
    found = []

    def rows(node: ast.AST) -> bool:  # ``X.rows`` or a name for it
        return (isinstance(node, ast.Attribute) and node.attr == "rows") or (
            isinstance(node, ast.Name) and node.id in row_names)

    def row(node: ast.AST) -> bool:  # one row: ``rows[i]``, or a name bound to one
        return (isinstance(node, ast.Subscript) and rows(node.value)) or (
            isinstance(node, ast.Name) and node.id in one_row)

    row_names: set[str] = set()
    one_row: set[str] = set()
    for node in ast.walk(tree):  # ``rows = table.rows``
        if isinstance(node, ast.Assign) and rows(node.value):
            row_names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):  # ``for r in rows``, ``for i, r in enumerate(rows)``
        if isinstance(node, (ast.For, ast.comprehension)):
            it, target = node.iter, node.target
            if isinstance(it, ast.Call) and getattr(it.func, "id", "") == "enumerate" \
                    and it.args and rows(it.args[0]) and isinstance(target, ast.Tuple):
                target = target.elts[-1]
            elif not rows(it):
                continue
            if isinstance(target, ast.Name):
                one_row.add(target.id)
        elif isinstance(node, ast.Assign) and row(node.value):
            one_row |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, int):
            if row(node.value):
                found.append((node.lineno, f"a row by position: {ast.unparse(node)}"))
        elif isinstance(node, ast.BinOp) and isinstance(node.right, ast.Constant) \
                and node.right.value in _FIELD_ARITHMETIC.get(type(node.op), ()):
            found.append((node.lineno, f"a field by shift or mask: {ast.unparse(node)}"))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = any(isinstance(s, ast.Attribute) and s.attr in _NAMED_FIELDS
                        for s in sides)
            numbers = [s for s in sides for c in ast.walk(s) if isinstance(c, ast.Constant)
                       and type(c.value) is int and c.value]
            if named and numbers:
                found.append((node.lineno, f"a named field against a number: "
                                           f"{ast.unparse(node)}"))
    return found


def test_only_the_codec_decodes_elf() -> None:
    """Outside klp/elfcodec/, ELF is read through the codec's names (SymbolTable.bind,
    r_sym, ET.REL, ST_INFO...), never by position, shift or bare number."""
    found = [f"{path.relative_to(ROOT)}:{line}: {what}"
             for path in sorted((ROOT / "klp").rglob("*.py"))
             if "elfcodec" not in path.parts
             for line, what in _decoding_by_hand(ast.parse(path.read_text()))]
    assert found == []


def test_the_guard_sees_hand_decoding() -> None:
    samples = {
        "table.rows[i][3] == 0": "a row by position",
        "for r in table.rows:\n    r[1]": "a row by position",
        "sym = info >> 32": "a field by shift or mask",
        "kind = info & 0xffffffff": "a field by shift or mask",
        "elf.e_type == 1": "a named field against a number",
        "sec.sh_type in (4, 9)": "a named field against a number",
    }
    for source, kind in samples.items():
        assert [what for _, what in _decoding_by_hand(ast.parse(source))] != [], source
        assert kind in _decoding_by_hand(ast.parse(source))[0][1]
    assert _decoding_by_hand(ast.parse("elf.e_type == ET.REL\nr_sym(info)")) == []


#: What convert, verify and the symbols.klp format load: never the scanner (it builds
#: databases; reading one or converting a module must not pay for it).
_NO_SCANNER = ("klp.convert.api", "klp.convert.cli", "klp.verify.api", "klp.verify.cli",
               "klp.symdb.format", "klp.symdb.query")


@pytest.mark.parametrize("module", _NO_SCANNER)
def test_readers_never_load_the_scanner(module: str) -> None:
    probe = (f"import sys, {module}; "
             "sys.exit('klp.symdb.scan' in sys.modules or 'construct' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


@pytest.mark.parametrize("heavy", ["dataclasses", "pathlib"])
def test_commands_waited_for_never_load(heavy: str) -> None:
    """convert, verify, query and ``klp elf`` are commands a build system or a person
    waits for: the module that creating a dataclass needs costs each run about 7 ms,
    pathlib about 4 ms with urllib.parse and ipaddress (docs/design.md, "Start-up").
    Without ``site`` (``-S``), whose .pth files may import either themselves."""
    probe = ("import sys, klp.cli, klp.elfview, klp.render, klp.elfcodec.elffile, "
             "klp.convert.cli, klp.convert.api, klp.convert.diagnostics, klp.verify.cli, "
             f"klp.verify.api, klp.symdb.cli, klp.symdb.query; sys.exit({heavy!r} in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-S", "-c", probe], env=env, check=False
                          ).returncode == 0
