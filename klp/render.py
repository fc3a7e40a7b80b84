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


def _cell(key: str, value: Any, hex_columns: Iterable[str]) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key in hex_columns:
        return f"{value:#x}"
    if isinstance(value, list):
        return markup(",".join(map(str, value)))
    return markup(str(value))


def console(*, stderr: bool = False, width: int = 160, soft_wrap: bool = False) -> Console:
    """A rich Console for stdout or stderr, with no highlighting and no emoji codes
    (both would change what a name shows as). When the stream is not a terminal,
    lines are ``width`` wide (or ``$COLUMNS``), so piped output is stable and wide;
    ``soft_wrap`` keeps long message lines whole."""
    import os

    from rich.console import Console

    made = Console(stderr=stderr, highlight=False, emoji=False, soft_wrap=soft_wrap)
    if made.is_terminal:
        return made
    columns = os.environ.get("COLUMNS", "")
    return Console(stderr=stderr, highlight=False, emoji=False, soft_wrap=soft_wrap,
                   width=int(columns) if columns.isdigit() and int(columns) else width)


def print_table(
    title: str,
    rows: Sequence[dict[str, Any]],
    *,
    hex_columns: Iterable[str] = (),
    columns: Sequence[str] | None = None,
    primary: int = 1,
) -> None:
    """Rows as a table on stdout; see :func:`table_or_cards`."""
    out = console(width=200)
    cols = list(columns or (rows[0].keys() if rows else []))
    cells = [[_cell(c, row.get(c, ""), hex_columns) for c in cols] for row in rows]
    table_or_cards(out, markup(title), cols, cells, primary=primary)


def table_or_cards(out: Any, title: str | None, columns: Sequence[str],
                   cells: Sequence[Sequence[str]], *, primary: int = 1, indent: int = 0) -> None:
    """A table when it fits the console; otherwise one card per row: its first
    ``primary`` cells on a line, then ``column: value`` pairs indented below, so a
    narrow terminal never chops a path or an address into pieces. Cells are markup."""
    from rich.columns import Columns
    from rich.measure import Measurement
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False, header_style="bold")
    for col in columns:
        table.add_column(markup(col), overflow="fold")
    for row in cells:
        table.add_row(*row)
    natural = Measurement.get(out, out.options.update_width(1 << 16), table).maximum
    if natural + indent <= out.width:
        out.print(Padding(table, (0, 0, 0, indent)))
        return
    if title:
        out.print(Padding(title, (0, 0, 0, indent)), style="italic")
    for row in cells:
        out.print(Padding("  ".join(row[:primary]), (0, 0, 0, indent)))
        pairs = [Text.from_markup(f"[bold]{col}[/]: {value}")
                 for col, value in zip(columns[primary:], row[primary:], strict=True) if value]
        out.print(Padding(Columns(pairs, padding=(0, 2)), (0, 0, 0, indent + 4)))
