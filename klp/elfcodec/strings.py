"""String tables (.strtab, .shstrtab): offsets in, names out, any bytes round-trip."""

from __future__ import annotations


def decode_name(raw: bytes) -> str:
    """Names are bytes in ELF; surrogateescape lets any byte string round-trip."""
    return raw.decode("utf-8", "surrogateescape")


def encode_name(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


class StringTable:
    """A NUL-separated table. New names are appended, so existing offsets stay valid."""

    __slots__ = ("_added", "_appended", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._appended: list[bytes] = []
        self._added: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self.data) + sum(len(s) + 1 for s in self._appended)

    def get(self, offset: int) -> str | None:
        """The name at ``offset``, or None when the offset is outside the table
        or the string is not NUL-terminated."""
        data = self.data
        if offset >= len(data):
            return self._get_appended(offset)
        end = data.find(b"\0", offset)
        if end < 0:
            return None
        return decode_name(data[offset:end])

    def _get_appended(self, offset: int) -> str | None:
        pos = len(self.data)
        for raw in self._appended:
            if pos <= offset <= pos + len(raw):
                return decode_name(raw[offset - pos :])
            pos += len(raw) + 1
        return None

    def add(self, name: str) -> int:
        """The offset of ``name``, appending it unless this run appended it already."""
        raw = encode_name(name)
        if not self.data and not self._appended:
            self._appended.append(b"")  # gABI: offset 0 of a string table is the empty name
            self._added[b""] = 0
        if not raw and self.data[:1] == b"\0":
            return 0
        if raw in self._added:
            return self._added[raw]
        offset = len(self)
        self._appended.append(raw)
        self._added[raw] = offset
        return offset

    def encode(self) -> bytes:
        if not self._appended:
            return self.data
        return self.data + b"".join(s + b"\0" for s in self._appended)
