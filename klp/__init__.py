"""klp: build Linux kernel livepatch modules.

Two stages over one ELF codec: ``klp symdb build`` records every kernel symbol in
the order the running kernel counts positions, and ``klp convert`` rewrites a
livepatch module's unresolvable relocations into ``.klp.rela`` sections.
"""

__version__ = "0.1.0"
