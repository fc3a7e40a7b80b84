"""What a livepatch module's own DWARF declares of the symbols it takes from the kernel.

A livepatch declares the kernel's static functions and variables by hand (``extern
int count __asm__("count.0")``), and its code reads, writes and calls as those
declarations say. kbuild builds modules with the kernel's CONFIG_DEBUG_INFO, so the
module's DWARF has each declaration: what kind of symbol the patch expects (a
function, a variable), a variable's size and a function's prototype. klp compares
them with the symbol each klp symbol binds (klp/verify/check.py), and points an
ambiguous name at the copies of the declared kind (klp/convert/plan.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from klp.elfcodec.elffile import ElfFile

if TYPE_CHECKING:
    from klp.elfcodec.dwarf import Signature

_V = TypeVar("_V")
#: A declaration's key: (object, name, position) of a KLP_RELOC_SYMBOL name (its asm
#: label chooses the copy), (None, name, None) of a plain one.
Key = tuple[str | None, str, int | None]


class Declared(NamedTuple):
    """The patch's declarations of the symbols it takes from elsewhere."""

    #: None: the module's units declare it differently
    functions: dict[Key, Signature | None]
    variables: dict[Key, int | None]  #: the declared type's size (None: unknown)

    def function(self, obj: str | None, name: str, pos: int | None) -> Signature | None:
        """The prototype the patch calls the symbol (obj, name, pos) with (obj and pos
        None: its declaration under the plain name)."""
        return _of(self.functions, obj, name, pos)

    def variable_size(self, obj: str | None, name: str, pos: int | None) -> int | None:
        """The size the patch reads and writes the symbol (obj, name, pos) with."""
        return _of(self.variables, obj, name, pos)

    def kind(self, obj: str | None, name: str, pos: int | None) -> bool | None:
        """True: declared a function; False: a variable of known size (an array of
        unknown size, the idiom for taking any symbol's address, says nothing); None
        also where the module's units declare it as both."""
        function = _key(self.functions, obj, name, pos) is not None
        variable = _key(self.variables, obj, name, pos) is not None
        if function and variable:
            return None
        if function:
            return True
        return False if self.variable_size(obj, name, pos) is not None else None


def _key(table: Mapping[Key, object], obj: str | None, name: str, pos: int | None
         ) -> Key | None:
    """The key the symbol (obj, name, pos) is declared under: its KLP_RELOC_SYMBOL name,
    else its plain name."""
    for key in ((obj, name, pos), (None, name, None)):
        if key in table:
            return key
    return None


def _of(table: Mapping[Key, _V | None], obj: str | None, name: str, pos: int | None
        ) -> _V | None:
    key = _key(table, obj, name, pos)
    return None if key is None else table[key]


def read_declarations(elf: ElfFile) -> Declared | None:
    """The module's declarations; None without DWARF."""
    if not any(sec.name == ".debug_info" for sec in elf.sections):
        return None
    from klp.convert.annotations import RELOC_SYMBOL_PREFIX, read_reloc_symbol
    from klp.elfcodec.dwarf import declarations

    def keyed(table: Mapping[str, _V]) -> dict[Key, _V]:
        found: dict[Key, _V] = {}
        for name, value in table.items():
            name = name.strip('"')  # KLP_RELOC_SYMBOL's asm label is a quoted name
            if not name.startswith(RELOC_SYMBOL_PREFIX):
                found[None, name, None] = value
            elif not isinstance(choice := read_reloc_symbol(name), str):
                found[choice.obj, choice.name, choice.pos] = value
        return found

    declared = declarations(elf)
    return Declared(keyed(declared.functions), keyed(declared.variables))
