"""The kernel's own kallsyms table, read from vmlinux: what /proc/kallsyms will list.

scripts/kallsyms.c compresses the symbols it keeps into vmlinux's ``.rodata``, in
the order the running kernel lists them and counts positions in
(kernel/kallsyms.c reads them back):

- ``kallsyms_num_syms``: a 32-bit count;
- ``kallsyms_names``: per symbol, its length in tokens (ULEB128, one byte or, for a
  long name since v6.1, two), then the tokens' indices, one byte each;
- ``kallsyms_markers``, which follows the names;
- ``kallsyms_token_table``: 256 NUL-terminated strings;
- ``kallsyms_token_index``: where each string starts, 256 16-bit offsets.

Expanded, an entry is the symbol's type letter and then its name. The scanner
derives the same list from ``.symtab`` by the kernel's rules; when vmlinux has the
table, the table decides (see scan.py).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import NamedTuple

from klp.elfcodec.elffile import ElfFile

NUM_SYMS, NAMES, MARKERS = b"kallsyms_num_syms", b"kallsyms_names", b"kallsyms_markers"
TOKEN_TABLE, TOKEN_INDEX = b"kallsyms_token_table", b"kallsyms_token_index"
TABLE_SYMBOLS = (NUM_SYMS, NAMES, MARKERS, TOKEN_TABLE, TOKEN_INDEX)
#: The first release whose kallsyms certainly lists the table's own symbols
#: (kallsyms_names, ...). 6.1's scripts/kallsyms.c left them out by name while
#: System.map kept them; 6.12's leaves nothing out by name, and 7.3 kernels list them
#: under qemu. Releases between are not known, and left out like 6.1's: the names are
#: unique, so leaving them out moves no position.
LISTS_ITSELF_FROM = (6, 12)
#: vmlinux's ``%`` key, with the value "code", when its table lists code only.
CODE_ONLY_KEY = "kallsyms"
#: Why such a kernel takes no livepatch (kernel/livepatch/Kconfig).
CODE_ONLY_MEANS = ("its kallsyms lists code only: the kernel was built without "
                   "CONFIG_KALLSYMS_ALL, which CONFIG_LIVEPATCH depends on, so it cannot load "
                   "a livepatch")


class KernelTable(NamedTuple):
    """The table's entries in the kernel's order: each one's type letter and name."""

    letters: bytes
    names: list[bytes]


class TableError(ValueError):
    """The table's symbols are there but its bytes cannot be what kallsyms.c wrote."""


def read_table(elf: ElfFile, address_of: Callable[[bytes], int | None]
               ) -> KernelTable | None:
    """The table's entries, in the kernel's order; None when
    vmlinux has no table (its symbols are missing: a kernel without CONFIG_KALLSYMS).
    ``address_of`` gives a symbol's link-time address."""
    addresses = [address_of(name) for name in TABLE_SYMBOLS]
    if None in addresses:
        return None
    num_at, names_at, markers_at, table_at, index_at = (a for a in addresses if a is not None)
    order = "<" if elf.little else ">"
    count = struct.unpack(f"{order}I", _bytes_at(elf, num_at, 4))[0]
    offsets = struct.unpack(f"{order}256H", _bytes_at(elf, index_at, 512))
    if not (names_at < markers_at and table_at < index_at):
        raise TableError(f"{NAMES.decode()} and {TOKEN_TABLE.decode()} are not followed "
                         "by the tables kallsyms.c puts after them")
    strings = bytes(_bytes_at(elf, table_at, index_at - table_at))
    tokens = []
    for at in offsets:
        end = strings.find(b"\0", at)
        if end < 0:
            raise TableError(f"{TOKEN_TABLE.decode()}: token at {at:#x} has no end")
        tokens.append(strings[at:end])
    blob = bytes(_bytes_at(elf, names_at, markers_at - names_at))
    if count > len(blob) // 2:  # every entry takes a length byte and a token at least
        raise TableError(f"{NUM_SYMS.decode()} is {count}, more than "
                         f"{NAMES.decode()} ({len(blob)} bytes) can hold")
    expand = tokens.__getitem__
    letters = bytearray()
    names: list[bytes] = []
    at, end = 0, len(blob)
    for _ in range(count):
        length = blob[at] if at < end else 0
        at += 1
        if length & 0x80:
            length = (length & 0x7F) | (blob[at] << 7) if at < end else 0
            at += 1
        if not length or at + length > end:
            raise TableError(f"{NAMES.decode()}: entry {len(names)} runs past its end")
        entry = b"".join(map(expand, blob[at : at + length]))
        letters.append(entry[0])
        names.append(entry[1:])
        at += length
    return KernelTable(bytes(letters), names)


def _bytes_at(elf: ElfFile, address: int, size: int) -> bytes | memoryview:
    found = elf.bytes_at(address, size)
    if found is None:
        raise TableError(f"no section holds the {size} bytes at {address:#x}")
    return found
