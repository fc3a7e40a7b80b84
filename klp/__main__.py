"""``python -m klp`` is the same as the ``klp`` command."""

from klp.cli import program

program()
