"""Plain data passed between the converter's stages: candidates, problems, the plan."""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple, Protocol

from klp.livepatch import rules
from klp.livepatch.registration import Registration
from klp.symdb.model import SharedRanges, SymbolRecord


class SymbolLookup(Protocol):
    """What the converter needs from a symbol database."""

    def lookup(self, names: Iterable[str]) -> dict[str, list[SymbolRecord]]:
        """Every definition of each name, in database order (objects, then position)."""
        ...

    def closest(self, name: str, limit: int) -> list[str]:
        """Names that look like ``name``, for an unknown-symbol hint."""
        ...

    def names_like(self, name: str) -> list[str]:
        """Names that may be the compiler's for ``name`` (klp/symdb/variants.py): at
        least the ones with ``name`` and a dot at either end."""
        ...

    def objects(self) -> list[str]:
        """The objects the database describes: vmlinux and modules, by kernel name."""
        ...

    def has_object(self, name: str) -> bool:
        """Whether ``name`` is among :meth:`objects` (reading no more than it needs)."""
        ...

    @property
    def kernel_release(self) -> str:
        """The kernel release it was built from ("" when unknown)."""
        ...

    @property
    def builtin_modules(self) -> frozenset[str]:
        """The modules built into vmlinux (empty when unknown)."""
        ...

    def object_meta(self, obj: str) -> Mapping[str, str]:
        """What says which build ``obj`` is (``build-id``, ``srcversion``) where known;
        KeyError for an object the target does not have."""
        ...

    @property
    def running(self) -> bool:
        """A running kernel's view (/proc/kallsyms): its modules are the loaded ones
        and the files given beside it, not those a build had."""
        ...

    def compiler_clones(self, obj: str, functions: Collection[str]
                        ) -> dict[str, list[str]] | None:
        """The compiler clones (``foo.constprop.0``) ``obj`` has of each of
        ``functions``; None when the source does not say."""
        ...

    def shared_call_sites(self, obj: str) -> SharedRanges | None:
        """``obj``'s kallsyms ranges with several ftrace call sites and none at their
        start, by address; None when the source has no call sites."""
        ...


class KnownObjects(Collection[str]):
    """A lookup's objects as the checks ask about them, one name at a time: ``in``
    reads a database's object table only as far as the name (a distro's lists 4,000
    objects; vmlinux, the usual target, is the first); iterating lists them all."""

    def __init__(self, lookup: SymbolLookup) -> None:
        self._lookup = lookup

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup.has_object(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup.objects())

    def __len__(self) -> int:
        return len(self._lookup.objects())


class Reference(NamedTuple):
    """A relocation that uses a symbol."""

    section: str  #: the RELA section
    target: str  #: the section it applies to
    offset: int
    type: str
    function: str | None = None  #: ``name+0xoff`` of the code or data that uses it
    line: str | None = None  #: ``file:line``, when the module has DWARF line tables


class ProblemKind(enum.StrEnum):
    """What kind of problem: the ``kind`` of ``--json``'s problems."""

    AMBIGUOUS = "ambiguous"  #: a name with several definitions and no annotation
    UNKNOWN = "unknown"  #: a name the symbol database does not have
    ANNOTATION = "annotation"  #: a KLP_SYMPOS annotation that cannot be followed
    REGISTRATION = "registration"  #: the patch's klp_objects do not match its relocations
    RULE = "rule"  #: a relocation or name the kernel's loader refuses
    MODULE = "module"  #: .modinfo: not a livepatch, or another kernel's vermagic
    SECTION = "section"  #: a klp relocation section the kernel refuses or never applies
    RELOCATION = "relocation"  #: a relocation of a klp section the kernel refuses
    SYMBOL = "symbol"  #: a klp symbol name the kernel cannot read
    BINDING = "binding"  #: a klp symbol the kernel cannot bind
    FUNCTION = "function"  #: a klp_func the kernel cannot find, or may hook elsewhere


class Reason(enum.StrEnum):
    """Why a symbol gets its object and position: ``--json``'s ``reason``."""

    ANNOTATION = "annotation"
    UNIQUE = "unique"
    MODULE_EXPORT = "module export"


class Problem(NamedTuple):
    """Something that stops the conversion; all of them are reported together."""

    kind: ProblemKind
    symbol: str
    message: str
    references: Sequence[Reference] = ()
    candidates: Sequence[SymbolRecord] = ()
    #: Lines that fix it (KLP_MODULE_RELOC/KLP_SYMPOS) or similar names.
    suggestions: Sequence[str] = ()
    #: The user may know better than klp here: ``--force`` makes it a warning.
    forcible: bool = False


class Resolution(NamedTuple):
    """Where an undefined symbol of the livepatch lives in the kernel, for some of its uses.

    A symbol whose uses mean different copies (source files of a multi-file
    livepatch annotating it differently) has one resolution per copy: the
    first keeps the symbol-table entry, the others get a new symbol each.
    """

    symbol_index: int
    name: str
    obj: str
    pos: int
    reason: Reason
    #: The relocations it covers: (RELA section index, row).
    uses: tuple[tuple[int, int], ...] = ()
    references: tuple[Reference, ...] = ()
    #: The source file whose annotation chose it, when files disagree.
    source: str | None = None
    #: The object whose klp section takes its relocations, when KLP_RELOC_SYMBOL
    #: names another than ``obj``.
    gate: str | None = None

    @property
    def klp_name(self) -> str:
        return f"{rules.KLP_SYM_PREFIX}{self.obj}.{self.name},{self.pos}"

    @property
    def section_obj(self) -> str:
        """The object whose klp section holds the relocations: applied when it loads."""
        return self.gate or self.obj


class Move(NamedTuple):
    """Relocation rows of one RELA section that go to one klp section."""

    rela_section: int
    obj: str
    target_section: str
    rows: tuple[int, ...]

    @property
    def klp_section(self) -> str:
        return rules.klp_section_name(self.obj, self.target_section)


class Plan:
    """What the conversion does, filled in by the planner's stages."""

    __slots__ = ("already_converted", "drop_sections", "moves", "registration",
                 "resolutions", "warnings")

    def __init__(self) -> None:
        #: What the patch registers (None when no module or nothing was read).
        self.registration: Registration | None = None
        self.resolutions: list[Resolution] = []
        self.moves: list[Move] = []
        #: Annotation sections (and their RELA sections) to drop, by index.
        self.drop_sections: list[int] = []
        self.already_converted = False
        self.warnings: list[str] = []
