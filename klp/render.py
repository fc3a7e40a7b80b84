"""Rich output shared by the commands: tables on a terminal, plain text when piped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def _cell(key: str, value: Any, hex_columns: Iterable[str]) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key in hex_columns:
        return f"{value:#x}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def print_table(
    title: str,
    rows: Sequence[dict[str, Any]],
    *,
    hex_columns: Iterable[str] = (),
    columns: Sequence[str] | None = None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    cols = list(columns or (rows[0].keys() if rows else []))
    table = Table(title=title, show_lines=False, header_style="bold")
    for col in cols:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(c, row.get(c, ""), hex_columns) for c in cols))
    console.print(table)
