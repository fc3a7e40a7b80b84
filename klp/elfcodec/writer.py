"""Laying out and writing an ELF file.

An unmodified file comes out byte for byte as it went in (gaps, padding and a
trailing module signature included), although every decoded table is encoded
again from the model. An edited file keeps each section that still fits where it
was, appends grown and new sections (aligned), and rewrites the section header
table; trailing non-ELF data (a signature, now invalid) is dropped.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from klp.elfcodec.constants import SHN
from klp.elfcodec.elffile import EHDR_SIZE, SHDR_SIZE, ElfFile
from klp.errors import OutputError


def _align(value: int, alignment: int) -> int:
    return value if alignment <= 1 else (value + alignment - 1) // alignment * alignment


def elf_extent(elf: ElfFile) -> int:
    """Where the input's ELF content ends (anything after it is trailing data)."""
    ehdr = elf.ehdr
    end = max(EHDR_SIZE, ehdr[11] + ehdr[16] * ehdr[15])
    if ehdr[12]:
        end = max(end, ehdr[12] + elf._orig_shnum * SHDR_SIZE)
    for sec in elf.sections:
        if sec.orig_offset is not None and not sec.is_nobits:
            end = max(end, sec.orig_offset + sec.orig_size)
    return int(end)


def encode(elf: ElfFile) -> bytes:
    buf = elf.buffer
    contents = [b"" if s.is_nobits else s.data if s.decoded else s.raw() for s in elf.sections]
    changed = elf.modified or len(elf.sections) != elf._orig_shnum
    if not changed:
        for sec, content in zip(elf.sections, contents, strict=True):
            if sec.orig_offset is None or len(content) != (0 if sec.is_nobits else sec.orig_size):
                changed = True
                break
            if sec.decoded and content != buf[sec.orig_offset : sec.orig_offset + sec.orig_size]:
                changed = True
                break
    out = bytearray(buf if not changed else buf[: elf_extent(elf)])
    shnum = len(elf.sections)
    appended: list[int] = []
    for i, (sec, content) in enumerate(zip(elf.sections, contents, strict=True)):
        size = len(content)
        if sec.orig_offset is not None and (sec.is_nobits or size <= sec.orig_size):
            sec.sh_offset = sec.orig_offset
            if not sec.is_nobits:
                start = sec.orig_offset
                out[start : start + size] = content
                if size < sec.orig_size:  # no stale bytes behind a shrunk section
                    out[start + size : start + sec.orig_size] = bytes(sec.orig_size - size)
        else:
            appended.append(i)
        if not sec.is_nobits:
            sec.sh_size = size
    for i in appended:
        sec = elf.sections[i]
        offset = _align(len(out), max(sec.sh_addralign, 1))
        out += bytes(offset - len(out))
        sec.sh_offset = offset
        out += contents[i]
    ehdr = list(elf.ehdr)
    if not changed or (ehdr[12] and shnum <= elf._orig_shnum):
        shoff = ehdr[12]
    else:
        shoff = _align(len(out), 8)
    extended = shnum >= SHN.LORESERVE
    shstrndx = elf.shstrndx
    if shnum:
        null = elf.sections[0]
        null.sh_size = shnum if extended else (null.sh_size if not changed else 0)
        if shstrndx >= SHN.LORESERVE:
            null.sh_link = shstrndx
        elif changed and null.sh_link >= SHN.LORESERVE:
            null.sh_link = 0
    table = elf.tables.Shdr.pack(s.header for s in elf.sections)
    if shoff + len(table) > len(out):
        out += bytes(shoff + len(table) - len(out))
    out[shoff : shoff + len(table)] = table
    ehdr[12] = shoff if shnum else ehdr[12]
    ehdr[18] = 0 if extended else shnum
    ehdr[19] = SHN.XINDEX if shstrndx >= SHN.LORESERVE else shstrndx
    out[:EHDR_SIZE] = elf.tables.Ehdr.pack_one(ehdr)
    return bytes(out)


def write_atomic(elf: ElfFile, path: str) -> None:
    """Encode, then write to a temporary file beside ``path`` and rename it over."""
    data = encode(elf)
    write_bytes_atomic(path, data)


def write_bytes_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".klp-", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, mode & ~umask)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise OutputError(f"{path}: cannot write: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
