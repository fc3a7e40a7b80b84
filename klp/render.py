"""Output shared by the commands: tables on a terminal, plain text when piped, and
the escaping that every string from an input file or the command line gets before
it is printed."""

from __future__ import annotations

import os
import re
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TextIO, cast

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


def print_json(doc: Any) -> None:
    """A ``--json`` document on stdout: indented by one, ending with a newline."""
    import json

    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


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
    lines wrap at ``width`` (or ``$COLUMNS``), so piped output is stable and wide,
    and carry no padding; ``soft_wrap`` keeps long message lines whole."""
    from rich.console import Console

    made = Console(stderr=stderr, highlight=False, emoji=False, soft_wrap=soft_wrap)
    if made.is_terminal:
        return made
    stream = cast(TextIO, _Unpadded(sys.stderr if stderr else sys.stdout))
    return Console(file=stream, highlight=False, emoji=False, soft_wrap=soft_wrap,
                   width=columns_asked() or width)


def columns_asked() -> int | None:
    """``$COLUMNS`` when it is a positive number: the width a user asked for, which
    both piped output and the commands' help take first."""
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) else None


_PADDED_LINE_END = re.compile(" +\\n")


class _Unpadded:
    """A text stream that drops the spaces rich pads lines with (table cells, card
    columns, wrap points), so piped output and logs carry no trailing blanks."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._held = ""  #: trailing spaces of the last write: padding if a newline follows

    def write(self, text: str) -> int:
        joined = self._held + text
        body = joined.rstrip(" ")
        self._held = joined[len(body):]
        self._stream.write(_PADDED_LINE_END.sub("\n", body))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return self._stream.encoding


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
        out.print(Padding(table, (0, 0, 0, indent), expand=False))
        return
    if title:
        out.print(Padding(title, (0, 0, 0, indent), expand=False), style="italic")
    for row in cells:
        out.print(Padding("  ".join(row[:primary]), (0, 0, 0, indent), expand=False))
        pairs = [Text.from_markup(f"[bold]{col}[/]: {value}")
                 for col, value in zip(columns[primary:], row[primary:], strict=True) if value]
        out.print(Padding(Columns(pairs, padding=(0, 2)), (0, 0, 0, indent + 4), expand=False))


# -- listings: rows that come as blocks of columns ----------------------------------

#: A text cell's value (a list prints joined by commas, and stays a list in JSON).
Value = str | list[str]

#: The most rows a listing shows as a rich table, and only on a terminal: a few
#: screenfuls, where the box and the folding of long cells help. Longer listings and
#: piped ones are plain aligned text: rich lays out about a thousand rows a second.
RICH_ROWS = 200

#: Rows per write of a plain or JSON listing.
_BATCH = 4096


class _Memo(dict[int, Any]):
    """A dict that makes each missing value once; hits stay a C-level lookup, so
    ``map(memo.__getitem__, keys)`` runs at C speed over millions of keys."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[int], Any]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: int) -> Any:
        value = self[key] = self._make(key)
        return value


class Texts:
    """The values of a text column by key (a symbol's index, a type number), each
    made, escaped and measured once however many cells show it: a relocation table
    names the same symbols over and over. ``known`` values (keys 0, 1, ...) come in
    bulk, as a symbol table's names do; the others are made by ``make`` when asked."""

    __slots__ = ("_json", "_shown", "_width", "raw")

    def __init__(self, make: Callable[[int], Value], known: Iterable[Value] = ()) -> None:
        self.raw = _Memo(make)
        self.raw.update(enumerate(known))
        self._shown: _Memo | None = None
        self._width: _Memo | None = None
        self._json: _Memo | None = None

    @property
    def shown(self) -> _Memo:
        """As a table shows each value (:func:`shown`; a list joined by commas)."""
        if self._shown is None:
            try:  # names from a file almost never need escapes: one scan says so
                clean = not _UNSHOWABLE.search("".join(self.raw.values()))
            except TypeError:  # a list value
                clean = False
            self._shown = _derived(self.raw, _shown_value, unchanged=clean)
        return self._shown

    @property
    def width(self) -> _Memo:
        if self._width is None:
            self._width = _derived(self.shown, len)
        return self._width

    @property
    def json(self) -> _Memo:
        """Each value as ``json.dumps`` writes it (ASCII: non-UTF-8 bytes stay ``\\udcxx``)."""
        if self._json is None:
            from json.encoder import encode_basestring_ascii as encode

            self._json = _derived(self.raw, lambda value: encode(value) if isinstance(
                value, str) else f"[{', '.join(map(encode, value))}]")
        return self._json


def _derived(source: _Memo, convert: Callable[[Any], Any], unchanged: bool = False) -> _Memo:
    """``convert`` of each value of ``source``: those it holds now at once (as they are
    when ``unchanged`` says that converting them changes none), any later ones when
    asked for."""
    memo = _Memo(lambda key: convert(source[key]))
    memo.update(source if unchanged else zip(source.keys(), map(convert, source.values()),
                                             strict=True))
    return memo


def _shown_value(value: Value) -> str:
    return shown(value if isinstance(value, str) else ",".join(value))


class Keyed:
    """A text column of a block: cell ``i`` is ``texts`` of ``keys[i]``."""

    __slots__ = ("keys", "texts")

    def __init__(self, texts: Texts, keys: Sequence[int]) -> None:
        self.texts = texts
        self.keys = keys


class Block:
    """Consecutive rows of a listing as columns (int columns, or :class:`Keyed`
    text), in the order of a row's JSON keys."""

    __slots__ = ("cells", "count")

    def __init__(self, count: int, cells: dict[str, Sequence[int] | Keyed]) -> None:
        self.count = count
        self.cells = cells


#: A listing's blocks, made afresh for each pass over them.
Blocks = Callable[[], Iterable[Block]]


def _columns(block: Block, names: Iterable[str],
             form: Callable[[Texts], dict[int, Any]]) -> list[Iterable[Any]]:
    """The cells of columns ``names`` of ``block``: ints as they are, text in ``form``."""
    return [map(form(cell.texts).__getitem__, cell.keys) if isinstance(cell, Keyed) else cell
            for cell in map(block.cells.__getitem__, names)]


def block_rows(blocks: Iterable[Block]) -> Iterator[dict[str, Any]]:
    """The rows of ``blocks`` as dicts, as JSON has them."""
    for block in blocks:
        names = list(block.cells)
        for values in zip(*_columns(block, names, attrgetter("raw")), strict=True):
            yield dict(zip(names, values, strict=True))


def print_listing(title: str, columns: Sequence[str], blocks: Blocks, *,
                  hex_columns: Iterable[str] = ()) -> None:
    """A listing on stdout: a rich table (see :func:`print_table`) on a terminal for
    at most :data:`RICH_ROWS` rows, else :func:`write_plain`."""
    if sys.stdout.isatty() and _at_most(blocks(), RICH_ROWS):
        print_table(title, list(block_rows(blocks())), hex_columns=hex_columns,
                    columns=columns)
    else:
        write_plain(sys.stdout, title, columns, blocks, hex_columns=hex_columns)


def print_rows(title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """A few rows of text (already formatted: str, or bool as yes/no) as a listing:
    a rich table on a terminal, else plain aligned text (no rich import)."""
    cells = {name: Keyed(Texts(str, [_yes_no(row.get(name, "")) for row in rows]),
                         range(len(rows))) for name in columns}
    print_listing(title, columns, lambda: [Block(len(rows), dict(cells))])


def _yes_no(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _at_most(blocks: Iterable[Block], limit: int) -> bool:
    total = 0
    for block in blocks:
        total += block.count
        if total > limit:
            return False
    return True


def write_plain(out: TextIO, title: str, columns: Sequence[str], blocks: Blocks, *,
                hex_columns: Iterable[str] = ()) -> None:
    """The title, a header line and one line per row, readelf-like: each column as
    wide as its widest cell (the last one unpadded), numbers to the right, cells as
    the rich table shows them. One pass over ``blocks`` measures, a second writes;
    the lines are made with one ``%`` format per row, in batches."""
    hexes = set(hex_columns)
    widths = dict.fromkeys(columns, 0)
    texts: set[str] = set()
    for block in blocks():
        for name in columns if block.count else ():
            cell = block.cells[name]
            if isinstance(cell, Keyed):
                texts.add(name)
                widest = max(map(cell.texts.width.__getitem__, set(cell.keys)))
            else:
                spec = "%#x" if name in hexes else "%d"
                unsigned = isinstance(cell, array) and cell.typecode.isupper()
                widest = max(len(spec % max(cell)), 0 if unsigned else len(spec % min(cell)))
            widths[name] = max(widths[name], widest)
    last = columns[-1]
    specs, heads = [], []
    for name in columns:
        width = max(widths[name], len(name))
        if name in texts or not widths[name]:  # a column with no rows: say text
            specs.append("%s" if name == last else f"%-{width}s")
            heads.append(name if name == last else name.ljust(width))
        else:
            specs.append(f"%#{width}x" if name in hexes else f"%{width}d")
            heads.append(name.rjust(width))
    line = ("  ".join(specs) + "\n").__mod__

    def pieces() -> Iterator[str]:
        yield f"{shown(title)}\n{'  '.join(heads).rstrip()}\n"
        for block in blocks():
            cells = _columns(block, columns, attrgetter("shown"))
            for batch in _batches(map(line, zip(*cells, strict=True))):
                yield "".join(batch)

    _drain(out, pieces())


def write_json(out: TextIO, head: dict[str, str], key: str, blocks: Iterable[Block]) -> None:
    """``head`` with ``key``: the list of rows, one compact row object per line: what
    ``json.dump`` writes, but streamed block by block."""
    import json

    def pieces() -> Iterator[str]:
        yield json.dumps({**head, key: []})[:-2]
        lead = "\n"
        for block in blocks:
            fields = (f"{json.dumps(name).replace('%', '%%')}: "
                      f"%{'s' if isinstance(c, Keyed) else 'd'}" for name, c in block.cells.items())
            line = ("{" + ", ".join(fields) + "}").__mod__
            cells = _columns(block, block.cells, attrgetter("json"))
            for batch in _batches(map(line, zip(*cells, strict=True))):
                yield lead + ",\n".join(batch)
                lead = ",\n"
        yield "\n]}\n"

    _drain(out, pieces())


def _batches(lines: Iterator[str]) -> Iterator[list[str]]:
    while batch := list(islice(lines, _BATCH)):
        yield batch


def _drain(out: TextIO, pieces: Iterable[str]) -> None:
    """Write ``pieces`` about a megabyte at a time: few system calls however small the
    blocks (a file of 65,000 one-relocation sections), and bounded memory."""
    batch: list[str] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= 1 << 20:
            out.write("".join(batch))
            batch.clear()
            size = 0
    out.write("".join(batch))
