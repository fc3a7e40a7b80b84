"""Every command's --help says what docs/reference.md says, argument by argument.

The reference has one ``| option | meaning |`` table per command, after the
command's synopsis line; each row's names and text must be exactly the
command's arguments and their help. Also: every command's help runs.
"""

from __future__ import annotations

import argparse
import re
import shutil

import pytest

from klp.cli import _columns, build_parser
from tests.support.cli import klp, on_terminal
from tests.support.paths import ROOT

#: Command path -> how its synopsis line in docs/reference.md starts.
SYNOPSES = {
    (): "`klp [--version",
    ("convert",): "`klp convert INPUT.ko",
    ("verify",): "`klp verify PATCH.ko",
    ("symdb", "build"): "`klp symdb build ",
    ("symdb", "query"): "`klp symdb query ",
    ("elf", "sections"): "`klp elf sections|symbols|relocs",
    ("elf", "symbols"): "`klp elf sections|symbols|relocs",
    ("elf", "relocs"): "`klp elf sections|symbols|relocs",
}

Arguments = dict[frozenset[str], str]


def documented(synopsis: str) -> Arguments:
    """The first options table after the line that starts with ``synopsis``."""
    text = (ROOT / "docs" / "reference.md").read_text()
    after = text[text.index("\n" + synopsis):]
    table = after[after.index("| option | meaning |"):].split("\n\n")[0]
    found: Arguments = {}
    for line in table.splitlines()[2:]:
        names, meaning = (c.strip() for c in line.strip("|").split(" | ", 1))
        words = names.strip("`").split(", ")
        found[frozenset(w.split(" ")[0] for w in words)] = meaning
    return found


def parser_of(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        commands = next(a for a in parser._actions
                        if isinstance(a, argparse._SubParsersAction))
        parser = commands.choices[name]
    return parser


def offered(path: tuple[str, ...]) -> Arguments:
    """Options by their names, positional arguments by their metavar."""
    return {frozenset(a.option_strings or [str(a.metavar)]): a.help or ""
            for a in parser_of(path)._actions
            if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)}


@pytest.mark.parametrize("path", list(SYNOPSES), ids=lambda p: " ".join(("klp", *p)))
def test_help_is_the_reference(path: tuple[str, ...]) -> None:
    assert offered(path) == documented(SYNOPSES[path])


@pytest.mark.parametrize("path", [*SYNOPSES, ("symdb",), ("elf",)],
                         ids=lambda p: " ".join(("klp", *p)))
def test_help_runs(path: tuple[str, ...]) -> None:
    text = klp(*path, "--help").stdout
    assert re.match(rf"usage: klp {' '.join(path)}", text), text


@pytest.mark.parametrize("columns", [None, "120", "0", "-3", "wide"])
def test_help_width_is_the_one_argparse_would_find(columns: str | None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """klp finds the help's width itself (argparse's way imports shutil): the same as
    shutil.get_terminal_size() for any $COLUMNS, and without one."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert _columns() == shutil.get_terminal_size().columns


@pytest.mark.parametrize("columns", [100, 173])
def test_help_on_a_terminal_is_what_argparse_writes(columns: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal that alone says how wide it is (no $COLUMNS), the help is what
    argparse's own formatter writes at that width."""
    text = on_terminal("convert", "--help", columns=columns, columns_env=False)
    args, _ = build_parser(["convert"]).parse_known_args(["convert", "in.ko"])
    monkeypatch.setenv("COLUMNS", str(columns))
    args.parser.formatter_class = argparse.HelpFormatter
    assert text == args.parser.format_help()
    assert max(map(len, text.splitlines())) > 78  # wider than without a terminal


def test_a_group_without_its_command_shows_its_help() -> None:
    proc = klp("symdb", check=2)
    assert "build" in proc.stderr and "query" in proc.stderr


@pytest.mark.parametrize(("words", "usage", "hint"), [
    (("convert", "--symbols", "db.klp", "m.ko"), "usage: klp convert", "did you mean --symdb?"),
    (("elf", "sections", "--jsn", "m.ko"), "usage: klp elf sections", "did you mean --json?"),
    (("symdb", "build", "--kernel_tree", "t", "--modules=m", "--vmlinx=v"),
     "usage: klp symdb build", "--kernel_tree: did you mean --kernel-tree?; "
                               "--vmlinx: did you mean --vmlinux?"),
    (("--bogus",), "usage: klp [-h]", None),
])
def test_an_unknown_option_gets_its_commands_usage(words: tuple[str, ...], usage: str,
                                                   hint: str | None) -> None:
    """argparse alone shows the top level's usage for a subcommand's unknown option."""
    error = klp(*words, check=2).stderr
    assert error.startswith(usage) and "error: unrecognized arguments: " in error
    if hint is None:
        assert "did you mean" not in error
    else:
        assert error.rstrip().endswith(hint)
