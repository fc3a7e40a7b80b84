"""Reading an input file, with an error that names it; an object compressed as kmod
installs modules (``.ko.xz``, ``.ko.gz``, ``.ko.zst``) is read decompressed.

A compressed file is untrusted like any other: what it inflates to is bounded by
its own size (:data:`MAX_RATIO`), so a few kilobytes cannot ask for gigabytes.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING, BinaryIO, TypeAlias

from klp.errors import ElfError, InputError

if TYPE_CHECKING:
    from klp.elfcodec.elffile import ElfFile

#: A file's path as klp's functions take it: a ``str`` or a ``pathlib.Path`` (klp
#: itself passes ``str``: importing pathlib is 5% of a ``klp convert``).
StrPath: TypeAlias = "str | os.PathLike[str]"

#: Compressions an installed module may have (kmod's), by file suffix.
COMPRESSED = (".xz", ".zst", ".gz")
#: How many times its compressed size an object may inflate to (a module's ratio is
#: 3 to 10, with debug info too), and at least :data:`MIN_LIMIT` bytes.
MAX_RATIO = 64
MIN_LIMIT = 64 << 20


#: What a path that is not a regular file is, by st_mode type.
_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def open_input(path: str) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file; else an OSError whose
    strerror says what it is. A FIFO would stop klp until someone writes to it, and a
    device would never end (/dev/urandom): reading is bounded by the file's size."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO: no wait
    try:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind != stat.S_IFREG:
            raise OSError(errno.EINVAL, f"not a regular file ({_KINDS.get(kind, 'special')})")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    # The file object owns fd from here: closing fd as well when Ctrl-C lands just after
    # it was made would close it twice and turn the interrupt into "Bad file descriptor".
    return open(fd, "rb")


def read_input(path: str) -> bytes:
    """A whole input file, or an InputError that names it."""
    try:
        with open_input(path) as f:
            return f.read()
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None


def read_object(path: str) -> bytes:
    """The ELF bytes of an object, decompressing .xz, .gz and .zst by suffix."""
    try:
        with open_input(path) as f:
            raw = f.read()
    except OSError as e:
        raise ElfError(path, f"cannot read: {e.strerror or e}") from None
    if not path.endswith(COMPRESSED):
        return raw
    limit = max(MAX_RATIO * len(raw), MIN_LIMIT)
    if path.endswith(".xz"):
        data = _unxz(path, raw, limit)
    elif path.endswith(".gz"):
        data = _gunzip(path, raw, limit)
    else:
        data = _unzstd(path, raw, limit)
    if len(data) > limit:
        raise ElfError(path, f"cannot decompress: it inflates to more than {limit:,} bytes, "
                             f"{MAX_RATIO} times its size (not a module)")
    return data


def open_object(path: str) -> ElfFile:
    """The object as an ElfFile: mapped when plain, decompressed in memory otherwise."""
    from klp.elfcodec.elffile import ElfFile

    if path.endswith(COMPRESSED):
        return ElfFile.from_bytes(read_object(path), path)
    return ElfFile.open(path)


def _unxz(path: str, raw: bytes, limit: int) -> bytes:
    import lzma

    inflate = lzma.LZMADecompressor()
    try:
        data = inflate.decompress(raw, max_length=limit + 1)
    except lzma.LZMAError as e:
        raise ElfError(path, f"cannot decompress: {e}") from None
    return _whole(path, data, limit, inflate.eof, inflate.unused_data)


def _gunzip(path: str, raw: bytes, limit: int) -> bytes:
    import zlib

    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # the gzip wrapper
    try:
        data = inflate.decompress(raw, limit + 1)
    except zlib.error as e:
        raise ElfError(path, f"cannot decompress: {e}") from None
    return _whole(path, data, limit, inflate.eof, inflate.unused_data)


def _whole(path: str, data: bytes, limit: int, eof: bool, rest: bytes) -> bytes:
    """``data`` when it is the whole of one stream; too much of it is for the caller."""
    if len(data) > limit:
        return data
    if not eof:
        raise ElfError(path, "cannot decompress: the compressed data ends early")
    if rest.strip(b"\0"):
        raise ElfError(path, "cannot decompress: data follows the compressed stream")
    return data


def _unzstd(path: str, raw: bytes, limit: int) -> bytes:
    """zstd without a new dependency: Python 3.14's module if present, else the
    ``zstd`` command, whose output is read up to the limit."""
    import shutil
    import subprocess

    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        inflate = zstd.ZstdDecompressor()
        try:
            data = bytes(inflate.decompress(raw, max_length=limit + 1))
        except zstd.ZstdError as e:
            raise ElfError(path, f"cannot decompress: {e}") from None
        return _whole(path, data, limit, inflate.eof, inflate.unused_data)
    if shutil.which("zstd") is None:
        raise ElfError(path, "cannot decompress: no zstd command (apt-get install zstd)")
    with subprocess.Popen(["zstd", "-dcq", "--", os.path.abspath(path)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        out, err = proc.stdout, proc.stderr
        if out is None or err is None:  # never with PIPE; for the type checker
            raise ElfError(path, "cannot decompress: no pipe from zstd")
        data = out.read(limit + 1)
        if len(data) > limit:
            proc.kill()
            return data
        reason = err.read().decode(errors="replace").strip()
    if proc.returncode != 0:
        raise ElfError(path, f"cannot decompress: {reason or 'zstd failed'}")
    return data
