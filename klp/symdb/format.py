"""symbols.klp: write it deterministically, and look up a few names quickly.

Format (docs/symbols-klp.md): a header line ``klp-symbols 1``, ``%release``
lines, then per object a ``*<object>`` line followed by one tab-separated line
per symbol in position order. The reader also accepts the upstream
``klp-convert-symbol-data.0.1`` format (bare names, ``__ksymtab_`` exports).
"""

from __future__ import annotations

import bisect
import mmap
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable

from klp.convert.model import Definition
from klp.errors import InputError
from klp.symdb.scan import ObjectSymbols

HEADER = b"klp-symbols 1\n"
UPSTREAM_HEADER = b"klp-convert-symbol-data.0.1"


def encode(objects: Iterable[ObjectSymbols], exported: set[str]) -> bytes:
    objects = list(objects)
    out = [HEADER.decode()]
    for obj in objects:
        if obj.release:
            out.append(f"%release\t{obj.name}\t{obj.release}\n")
    for obj in objects:
        out.append(f"*{obj.name}\n")
        counts = Counter(r.name for r in obj.records)
        seen: Counter[str] = Counter()
        for r in obj.records:
            seen[r.name] += 1
            flag = "E" if obj.name == "vmlinux" and r.name in exported else "-"
            out.append(f"{r.name}\t{seen[r.name]}\t{counts[r.name]}\t{r.type}\t{r.bind}\t"
                       f"{r.size}\t{r.address}\t{r.file}\t{flag}\n")
    return "".join(out).encode("utf-8", "surrogateescape")


def encode_upstream(objects: Iterable[ObjectSymbols], exported: set[str]) -> bytes:
    """The upstream proposal's format: bare names, exports as ``__ksymtab_<name>``."""
    out = [UPSTREAM_HEADER.decode() + "\n"]
    for obj in objects:
        out.append(f"*{obj.name}\n")
        out.extend(f"{r.name}\n" for r in obj.records)
        if obj.name == "vmlinux":
            out.extend(f"__ksymtab_{name}\n" for name in sorted(exported))
    return "".join(out).encode("utf-8", "surrogateescape")


class SymbolDB:
    """A mapped symbols.klp; lookups scan the bytes for the few names asked for."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                self.data: bytes | mmap.mmap = (
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                    if f.seek(0, 2) else b""
                )
        except OSError as e:
            raise InputError(f"{path}: {e.strerror or e}") from None
        head = bytes(self.data[:64])
        if head.startswith(HEADER):
            self.upstream = False
        elif head.startswith(UPSTREAM_HEADER):
            self.upstream = True
        else:
            first = head.split(b"\n", 1)[0][:40]
            raise InputError(f"{path}: not a symbols.klp file (unknown header {first!r})")
        self._markers: list[int] = []
        self._objects: list[str] = []
        pos = self.data.find(b"\n*")
        while pos >= 0:
            end = self.data.find(b"\n", pos + 1)
            self._markers.append(pos + 1)
            self._objects.append(bytes(self.data[pos + 2 : end]).decode())
            pos = self.data.find(b"\n*", end)
        self.releases: dict[str, str] = {}
        for m in re.finditer(rb"^%release\t([^\t\n]*)\t([^\n]*)$",
                             bytes(self.data[: self._markers[0] if self._markers else None]),
                             re.M):
            self.releases[m.group(1).decode()] = m.group(2).decode()

    def objects(self) -> list[str]:
        return list(self._objects)

    def _object_at(self, offset: int) -> str | None:
        i = bisect.bisect_right(self._markers, offset) - 1
        return self._objects[i] if i >= 0 else None

    def _lines(self, key: bytes) -> list[tuple[str, bytes]]:
        found = []
        needle = b"\n" + key
        pos = self.data.find(needle)
        while pos >= 0:
            end = self.data.find(b"\n", pos + 1)
            obj = self._object_at(pos)
            if obj is not None:
                found.append((obj, bytes(self.data[pos + 1 : end if end >= 0 else None])))
            pos = self.data.find(needle, pos + 1)
        return found

    def definitions(self, names: Collection[str]) -> dict[str, list[Definition]]:
        result: dict[str, list[Definition]] = {}
        for name in sorted(names):
            raw = name.encode("utf-8", "surrogateescape")
            if self.upstream:
                defs = self._upstream_definitions(name, raw)
            else:
                defs = [self._parse(obj, line) for obj, line in self._lines(raw + b"\t")]
            if defs:
                result[name] = defs
        return result

    def _parse(self, obj: str, line: bytes) -> Definition:
        f = line.decode("utf-8", "surrogateescape").split("\t")
        return Definition(obj=obj, pos=int(f[1]), count=int(f[2]), type=f[3], bind=f[4],
                          size=int(f[5]), file=f[7], exported=f[8] == "E", address=f[6])

    def _upstream_definitions(self, name: str, raw: bytes) -> list[Definition]:
        exported = bool(self._lines(b"__ksymtab_" + raw + b"\n"))
        per_obj: dict[str, int] = defaultdict(int)
        hits = [obj for obj, line in self._lines(raw + b"\n") if line == raw]
        for obj in hits:
            per_obj[obj] += 1
        seen: dict[str, int] = defaultdict(int)
        defs = []
        for obj in hits:
            seen[obj] += 1
            defs.append(Definition(obj, seen[obj], per_obj[obj], "?", "?", 0, "",
                                   exported and obj == "vmlinux", "?"))
        return defs

    def vmlinux_exports(self, names: Collection[str]) -> set[str]:
        return {n for n, defs in self.definitions(names).items()
                if any(d.exported and d.obj == "vmlinux" for d in defs)}

    def all_names(self) -> set[str]:
        names = set()
        for line in bytes(self.data).split(b"\n")[1:]:
            if line and line[:1] not in (b"*", b"%"):
                names.add(line.split(b"\t", 1)[0].decode("utf-8", "surrogateescape"))
        return names

    def closest(self, name: str, limit: int) -> list[str]:
        import difflib

        return difflib.get_close_matches(name, self.all_names(), n=limit, cutoff=0.75)
