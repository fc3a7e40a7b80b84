"""One exception hierarchy for everything a user can cause.

Each class carries the process exit code the CLI uses for it; the CLI catches
:class:`KlpError` and nothing else, so a traceback always means a bug in klp.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes, documented in docs/reference.md."""

    OK = 0
    USAGE = 2  #: bad command line (argparse uses 2 as well)
    BAD_INPUT = 3  #: an input file is unreadable, malformed or unsupported
    UNRESOLVED = 4  #: convert found problems (ambiguous, unknown, rule violated)
    STALE_SYMDB = 5  #: the symbol database was built for another kernel
    OUTPUT = 6  #: an output could not be written
    INTERRUPTED = 130  #: Ctrl-C (128 + SIGINT, as a shell reports it)


class KlpError(Exception):
    """Base class: a one-line message and an exit code."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class ElfError(KlpError):
    """A malformed, truncated or unsupported ELF file.

    The message names the file, the byte offset (when one applies) and the reason.
    """

    def __init__(self, path: str, reason: str, offset: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.offset = offset
        where = f" at offset {offset:#x}" if offset is not None else ""
        super().__init__(f"{path}{where}: {reason}")


class UsageError(KlpError):
    """A command line klp cannot act on (conflicting or missing options)."""

    exit_code = ExitCode.USAGE


class InputError(KlpError):
    """Any other unusable input: a missing file, a bad symbols.klp, a bad option value."""


class StaleSymdbError(KlpError):
    """The symbol database describes another kernel than the one the module is for."""

    exit_code = ExitCode.STALE_SYMDB


class OutputError(KlpError):
    """An output file could not be written; the previous file (if any) is intact."""

    exit_code = ExitCode.OUTPUT
