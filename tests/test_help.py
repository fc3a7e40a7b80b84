"""Every command's --help says what docs/reference.md says, option by option.

The reference has one ``| option | meaning |`` table per command; each row's
option names and text must be exactly the command's options and their help.
Also: help never shows typer's placeholders (``{view}``), and every command's
help runs.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main

from tests.cli import klp
from tests.conftest import ROOT

#: Command path -> the heading of its section in docs/reference.md.
SECTIONS = {
    (): "## klp",
    ("convert",): "## klp convert",
    ("verify",): "## klp verify",
    ("elf", "sections"): "## klp elf",
    ("elf", "symbols"): "## klp elf",
    ("elf", "relocs"): "## klp elf",
}

Options = dict[frozenset[str], str]


def documented(heading: str) -> Options:
    """The options table that follows ``heading`` (before the next heading)."""
    text = (ROOT / "docs" / "reference.md").read_text()
    start = text.index(f"\n{heading}\n")
    section = re.split(r"\n#{1,3} ", text[start + len(heading) + 2 :])[0]
    table = section[section.index("| option | meaning |") :].split("\n\n")[0]
    found: Options = {}
    for line in table.splitlines()[2:]:
        name, meaning = (c.strip() for c in line.strip("|").split(" | ", 1))
        found[frozenset(re.findall(r"(?<![\w-])--?[\w-]+", name))] = meaning
    return found


def command(path: tuple[str, ...]) -> Any:
    """The click command (typer vendors click, so it is looked at by duck typing)."""
    from klp.cli import _mount_stages, app

    _mount_stages()
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return cmd


def offered(path: tuple[str, ...]) -> Options:
    return {frozenset(p.opts + p.secondary_opts): p.help or ""
            for p in command(path).params
            if p.param_type_name == "option" and "--help" not in p.opts}


@pytest.mark.parametrize("path", list(SECTIONS), ids=lambda p: " ".join(("klp", *p)))
def test_help_is_the_reference(path: tuple[str, ...]) -> None:
    assert offered(path) == documented(SECTIONS[path])


@pytest.mark.parametrize("path", [*SECTIONS, ("elf",)], ids=lambda p: " ".join(("klp", *p)))
def test_help_runs_without_placeholders(path: tuple[str, ...]) -> None:
    text = klp(*path, "--help").stdout
    # typer writes a required argument as {NAME}; a parameter's own name there
    # ({view}, {input}) means a metavar is missing
    assert "Usage: klp" in text and not re.search(r"\{[a-z_]+\}", text), text
