"""Laying out and writing an ELF file.

An unmodified file comes out byte for byte as it went in (gaps, padding, a
trailing module signature and the headers' numbering escapes included), although
every decoded table is encoded again from the model. An edited file keeps each
section that still fits where it was, appends grown and new sections (aligned,
within :data:`MAX_APPENDED_ALIGN`), and rewrites the section header table;
trailing non-ELF data (a signature, now invalid) is dropped. Before a file is
written, its bytes are read back with the full decoder: klp never writes a file
it would refuse to read.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from typing import TYPE_CHECKING

from klp.elfcodec.constants import SHN
from klp.elfcodec.records import (
    E_PHENTSIZE,
    E_PHNUM,
    E_PHOFF,
    E_SHNUM,
    E_SHOFF,
    E_SHSTRNDX,
    EHDR_SIZE,
    SHDR_SIZE,
)
from klp.errors import ElfError, OutputError

if TYPE_CHECKING:  # elffile imports this module when it writes
    from klp.elfcodec.elffile import ElfFile, Section

#: The largest sh_addralign a section written at the end of the file may have.
#: The module loader lays sections out at offsets inside page-aligned memory
#: (kernel/module/main.c, module_get_offset_and_type), so no alignment above the
#: page size can be honoured; the largest page size of klp's machines is 64 KiB
#: (arm64, ppc64), and no Debian module or vmlinux has more. Padding is bounded by it.
MAX_APPENDED_ALIGN = 64 << 10


def _align(value: int, alignment: int) -> int:
    return value if alignment <= 1 else (value + alignment - 1) // alignment * alignment


def elf_extent(elf: ElfFile) -> int:
    """Where the input's ELF content ends (anything after it is trailing data)."""
    ehdr = elf.ehdr
    end = max(EHDR_SIZE, ehdr[E_PHOFF] + ehdr[E_PHNUM] * ehdr[E_PHENTSIZE])
    if ehdr[E_SHOFF]:
        end = max(end, ehdr[E_SHOFF] + elf._orig_shnum * SHDR_SIZE)
    for sec in elf.sections:
        if sec.orig_offset is not None and sec.has_contents:
            end = max(end, sec.orig_offset + sec.orig_size)
    return int(end)


def _appended_alignment(elf: ElfFile, sec: Section) -> int:
    align = max(sec.sh_addralign, 1)
    if align & (align - 1) or align > MAX_APPENDED_ALIGN:
        raise elf.error(f"{sec.label}: sh_addralign {sec.sh_addralign:#x} is not "
                        f"a power of two up to {MAX_APPENDED_ALIGN:#x}, which a section klp "
                        "moves to the end of the file must be")
    return align


def encode(elf: ElfFile) -> bytes:
    buf = elf.buffer
    contents = [s.data if s.decoded else s.raw() if s.has_contents else b""
                for s in elf.sections]
    changed = elf.modified or len(elf.sections) != elf._orig_shnum
    if not changed:
        for sec, content in zip(elf.sections, contents, strict=True):
            if sec.orig_offset is None or len(content) != (
                    sec.orig_size if sec.has_contents else 0):
                changed = True
                break
            if sec.decoded and content != buf[sec.orig_offset : sec.orig_offset + sec.orig_size]:
                changed = True
                break
    if not changed:
        shoff = elf.ehdr[E_SHOFF]
        table = elf.codecs.Shdr.pack(s.header for s in elf.sections)
        changed = (elf.codecs.Ehdr.pack_one(elf.ehdr) != buf[:EHDR_SIZE]
                   or table != buf[shoff : shoff + len(table)])
    if not changed:  # byte for byte, headers included (even the numbering escapes)
        return bytes(buf)
    out = bytearray(buf[: elf_extent(elf)])
    shnum = len(elf.sections)
    ehdr = list(elf.ehdr)
    if ehdr[E_SHOFF]:  # no stale headers behind a shorter table
        start = ehdr[E_SHOFF]
        out[start : start + elf._orig_shnum * SHDR_SIZE] = bytes(elf._orig_shnum * SHDR_SIZE)
    appended: list[int] = []
    for i, (sec, content) in enumerate(zip(elf.sections, contents, strict=True)):
        size = len(content)
        if sec.orig_offset is not None and (not sec.has_contents or size <= sec.orig_size):
            sec.sh_offset = sec.orig_offset
            if sec.has_contents:
                start = sec.orig_offset
                out[start : start + size] = content
                if size < sec.orig_size:  # no stale bytes behind a shrunk section
                    out[start + size : start + sec.orig_size] = bytes(sec.orig_size - size)
        else:
            appended.append(i)
        if sec.has_contents:
            sec.sh_size = size
    for i in appended:
        sec = elf.sections[i]
        offset = _align(len(out), _appended_alignment(elf, sec))
        out += bytes(offset - len(out))
        sec.sh_offset = offset
        out += contents[i]
    shoff = ehdr[E_SHOFF] if ehdr[E_SHOFF] and shnum <= elf._orig_shnum else _align(len(out), 8)
    extended = shnum >= SHN.LORESERVE
    shstrndx = elf.shstrndx
    if shnum:
        # gABI: section 0 carries the count and the name table index when they
        # do not fit the ELF header
        null = elf.sections[0]
        null.sh_size = shnum if extended else 0
        null.sh_link = shstrndx if shstrndx >= SHN.LORESERVE else 0
        table = elf.codecs.Shdr.pack(s.header for s in elf.sections)
        if shoff + len(table) > len(out):
            out += bytes(shoff + len(table) - len(out))
        out[shoff : shoff + len(table)] = table
    ehdr[E_SHOFF] = shoff if shnum else 0
    ehdr[E_SHNUM] = 0 if extended else shnum
    ehdr[E_SHSTRNDX] = SHN.XINDEX if shstrndx >= SHN.LORESERVE else shstrndx
    out[:EHDR_SIZE] = elf.codecs.Ehdr.pack_one(ehdr)
    return bytes(out)


def write_atomic(elf: ElfFile, path: str) -> None:
    """Encode, read the result back with the full decoder, then write it atomically.

    klp never writes a file its own reader rejects: if the encoded bytes fail
    any check (headers, layout, every table), nothing is written and ``path``
    keeps its old contents.
    """
    write_bytes_atomic(path, read_back(elf, path)[0])


def read_back(elf: ElfFile, path: str) -> tuple[bytes, ElfFile]:
    """The bytes ``elf`` encodes to, and those bytes decoded again in full (what a
    later check of the result reads): :class:`OutputError` when klp's own reader
    rejects them."""
    data = encode(elf)
    try:
        result = type(elf).from_bytes(data, path)
        result.decode_all()
    except ElfError as e:
        raise OutputError(f"{path}: not written: klp could not read back what it would "
                          f"write ({e.reason})") from None
    return data, result


#: Temporary files are named ``.klp-<pid>-<random>.tmp``: the pid says whose they are.
_TEMP = re.compile(r"\.klp-(\d+)-\w+\.tmp")


def _create_temporary(folder: str) -> tuple[int, str]:
    """A new file of our own in ``folder`` (mode 0600), and its path."""
    for _ in range(100):
        path = os.path.join(folder, f".klp-{os.getpid()}-{os.urandom(6).hex()}.tmp")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {folder}")


def write_bytes_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half.

    The data goes to a temporary file beside ``path`` that is renamed over it. A
    process killed before the rename leaves its temporary file behind; the next
    write in that folder removes those of processes that no longer exist. A symbolic
    link is written through, as ``cp`` does: the link stays, its target changes. A
    FIFO, a character device (``/dev/null``) or an open file's name (``/dev/stdout``)
    is written into, as a shell redirection does, never replaced by a file.
    """
    try:
        kind = stat.S_IFMT(os.stat(path).st_mode)
    except OSError:
        kind = stat.S_IFREG  # a new file (or one the write itself will fail on)
    if kind in (stat.S_IFIFO, stat.S_IFCHR) or os.path.abspath(path).startswith(_OPEN_FILES):
        _write_into(path, data)
        return
    if kind != stat.S_IFREG:
        what = "a folder" if kind == stat.S_IFDIR else "no regular file"
        raise OutputError(f"{path}: cannot write: it is {what}")
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    _remove_stale_temporaries(folder)
    tmp = None
    try:
        fd, tmp = _create_temporary(folder)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, mode & ~umask)
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        raise OutputError(f"{path}: cannot write: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


#: Names of files a process has open (/dev/stdout, /dev/fd/3, /proc/self/fd/1): written
#: into, since the file they lead to is someone's open descriptor, not a path to replace.
_OPEN_FILES = ("/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/")


def _write_into(path: str, data: bytes) -> None:
    """Write ``data`` into a FIFO or a device, which has no old contents to keep."""
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise OutputError(f"{path}: cannot write: {e.strerror or e}") from None


def _remove_stale_temporaries(folder: str) -> None:
    """Remove klp temporary files in ``folder`` whose process is gone (killed mid-write)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return  # the write itself will say what is wrong with the folder
    for name in names:
        match = _TEMP.fullmatch(name)
        if match is None or int(match[1]) == os.getpid() or _alive(int(match[1])):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process, or not a pid
        return True
    return True
