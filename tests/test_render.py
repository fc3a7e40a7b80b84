"""klp.render: any string from a file or the command line prints as visible text."""

from __future__ import annotations

import pytest

from klp.render import markup, plural, shown


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("tab\there\r\n", "tab\\there\\r\\n"),
    ("esc\x1b[31m", "esc\\x1b[31m"),
    ("c1\x85\x9f", "c1\\x85\\x9f"),
    ("bad\udcff", "bad\\xff"),  # a byte that is not UTF-8 (surrogateescape)
    ("lone\ud800\udfff", "lone\\ud800\\udfff"),  # no byte at all: Python strings only
    ("caf\u00e9 \u2713", "caf\u00e9 \u2713"),
])
def test_shown(text: str, expected: str) -> None:
    assert shown(text) == expected
    shown(text).encode("utf-8")


def test_markup_keeps_brackets_as_text() -> None:
    assert markup("a[/]b[bold]\udcff") == "a\\[/]b\\[bold]\\xff"


def test_plural() -> None:
    assert [plural(n, "object") for n in (0, 1, 2, 1234)] == [
        "0 objects", "1 object", "2 objects", "1,234 objects"]
    assert plural(2, "child", "children") == "2 children"
