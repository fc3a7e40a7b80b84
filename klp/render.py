"""Output shared by the commands: tables on a terminal, plain text when piped, and
the escaping that every string from an input file or the command line gets before
it is printed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

#: C0 and C1 controls, DEL, and surrogates: those that stand for bytes that are not
#: UTF-8 (klp decodes names with surrogateescape, so any byte string round-trips), and
#: the others, which no stream can encode (a str made in Python may hold them).
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code >= 0xD800:
        return f"\\u{code:04x}"
    return _NAMED.get(char) or f"\\x{code:02x}"


def shown(text: str) -> str:
    """``text`` as it may be printed: control characters and non-UTF-8 bytes become
    visible escapes (``\\t``, ``\\x80``), so a name from a file can neither break a
    line, drive the terminal, nor fail to encode on a strict UTF-8 stream."""
    return _UNSHOWABLE.sub(_escaped, text)


def markup(text: str) -> str:
    """:func:`shown` text escaped for rich markup: ``[bold]`` in a name stays text."""
    from rich.markup import escape

    return escape(shown(text))


def plural(count: int, noun: str, nouns: str = "") -> str:
    """``1 object``, ``2 objects``: the count and the noun that agrees with it."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def stderr_console() -> Console:
    """A console for messages on stderr: no highlighting, and no emoji codes (both
    would change what a name shows as); long lines stay whole."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


def _cell(key: str, value: Any, hex_columns: Iterable[str]) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key in hex_columns:
        return f"{value:#x}"
    if isinstance(value, list):
        return markup(",".join(map(str, value)))
    return markup(str(value))


def print_table(
    title: str,
    rows: Sequence[dict[str, Any]],
    *,
    hex_columns: Iterable[str] = (),
    columns: Sequence[str] | None = None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(emoji=False)
    if not console.is_terminal:
        console = Console(width=200, emoji=False)
    cols = list(columns or (rows[0].keys() if rows else []))
    table = Table(title=markup(title), show_lines=False, header_style="bold")
    for col in cols:
        table.add_column(markup(col), overflow="fold")
    for row in rows:
        table.add_row(*(_cell(c, row.get(c, ""), hex_columns) for c in cols))
    console.print(table)
