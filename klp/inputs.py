"""Reading a whole input file, with an error that names it."""

from __future__ import annotations

from klp.errors import InputError


def read_input(path: str) -> bytes:
    """A whole input file, or an InputError that names it."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
