"""Every ``sh`` block of the user documentation runs, so the docs cannot rot.

Blocks of one document run in order in one bash session from the repository
root. Install and test commands of the README are left out (they are what runs
this test). docs/integration.md is run by tests/e2e/kernel.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import ROOT, realdata_or_skip

#: Every document with sh blocks (docs/integration.md runs in tests/e2e/kernel).
DOCS = [
    str(p.relative_to(ROOT))
    for p in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
    if p.name != "integration.md" and "```sh" in p.read_text()
]
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"^\s*(pip install|python -m pytest)")


def script_of(doc: str) -> str:
    text = (ROOT / doc).read_text()
    lines = []
    for block in BLOCK.findall(text):
        for line in block.splitlines():
            lines.append(re.sub(r"^pip install [^&]*&& ", "", line) if SKIP.match(line) else line)
    return "\n".join(line for line in lines if not SKIP.match(line))


@pytest.mark.parametrize("doc", DOCS)
def test_doc_commands_run(doc: str) -> None:
    script = script_of(doc)
    if "klp-realdata" in script:
        realdata_or_skip("cloud-amd64")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, f"{doc}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.mark.parametrize("command", ["build", "query"])
def test_reference_quotes_the_symdb_help(command: str) -> None:
    """docs/reference.md's option table of each symdb command is the command's --help."""
    import typer.main

    from klp.symdb.cli import app

    cmd = typer.main.get_command(app).commands[command]
    ctx = cmd.make_context(command, [], resilient_parsing=True)
    records = [p.get_help_record(ctx) for p in cmd.get_params(ctx)]
    help_rows = [f"| `{opts}` | {' '.join(text.split())} |" for opts, text in filter(None, records)
                 if opts != "--help"]
    text = (ROOT / "docs" / "reference.md").read_text()
    after = text[text.index(f"\n`klp symdb {command} ") :].splitlines()[1:]
    table = after[after.index("|---|---|") + 1 :]
    doc_rows = table[: next(i for i, line in enumerate(table) if not line.startswith("|"))]
    assert doc_rows == help_rows
