"""Every ``sh`` block of the user documentation runs, so the docs cannot rot.

Blocks of one document run in order in one bash session from the repository
root. Install and test commands of the README are left out (they are what runs
this test). docs/integration.md is run by tests/e2e/kernel.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.support.paths import ROOT, realdata_or_skip

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
