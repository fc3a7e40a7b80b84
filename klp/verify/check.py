"""Check a finished livepatch module against its target kernel, as the kernel will.

Each ``.klp.sym.<obj>.<name>,<pos>`` is bound the way klp_find_object_symbol()
binds it (kernel/livepatch/core.c): position 0 needs a unique name, position N
is the N-th symbol of that name in kallsyms order; for a module, in both load
orders. Each ``.klp.rela.<obj>.<section>`` and each of its relocations is
checked as the module loader and the livepatch core check it, and the patch's
own ``klp_patch`` as klp_init_patch() and klp_init_object_loaded() use it. Any
producer's module is read the same way: the kernel's ELF contract is the
contract, not klp's own choices.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import NamedTuple

from klp.convert.model import KnownObjects, Problem, ProblemKind, Reference, SymbolLookup
from klp.elfcodec.constants import SHF, SHN, SHT
from klp.elfcodec.elffile import ElfFile, Section
from klp.elfcodec.kmod import modinfo
from klp.livepatch import rules
from klp.livepatch.declarations import Declared, read_declarations
from klp.livepatch.registration import Registration, check_registration, read_registration
from klp.symdb.model import SharedRanges, SymbolRecord


class Binding(NamedTuple):
    """Where the kernel binds one klp symbol, or why it cannot."""

    symbol: str  #: the ELF name, ``.klp.sym.<obj>.<name>,<pos>``
    obj: str
    name: str
    pos: int
    uses: int  #: relocations in klp sections that use it
    #: vmlinux, or a module loaded before the patch: the symbol it lands on.
    lands: SymbolRecord | None = None
    #: A module that loads after the patch (its full symtab counts), when different.
    late: SymbolRecord | None = None
    problem: str | None = None


class FuncBinding(NamedTuple):
    """A function the patch replaces (a klp_func) and where the kernel finds it."""

    obj: str
    old_name: str
    old_sympos: int
    lands: SymbolRecord | None = None
    problem: str | None = None
    #: The functions holding an inlined copy of it, and how many each; None: not read
    #: (no --debuginfo for its object, or its DWARF does not describe it).
    inlined_into: dict[str, int] | None = None
    #: Its replacement in the patch module: (section index, offset).
    new_func: tuple[int, int] | None = None


class _Use(NamedTuple):
    """The relocations of klp sections that use one klp symbol."""

    symbol: str  #: its ELF name
    section_obj: str  #: the object of the first klp section that uses it
    references: list[Reference]


class Verdict:
    """Everything ``klp verify`` found about one module."""

    __slots__ = ("bindings", "functions", "problems", "registration", "warnings")

    def __init__(self) -> None:
        self.bindings: list[Binding] = []
        self.functions: list[FuncBinding] = []
        self.registration: Registration | None = None
        self.problems: list[Problem] = []
        self.warnings: list[str] = []


def verify_module(elf: ElfFile, lookup: SymbolLookup | None, *,
                  target_vermagic: str = "", registration: Registration | None = None,
                  debug: Mapping[str, ElfFile] | None = None) -> Verdict:
    """Check ``elf`` against the kernel ``lookup`` describes (None: only what needs no
    kernel: formats, flags, relocation rules, registration). ``registration``: the
    patch's klp_objects as read from the same module's data before (convert reads it
    before rewriting relocations, which never touches klp_patch's pointers).
    ``debug``: the target's files with DWARF by object (``--debuginfo``), for where
    the patched functions were inlined and what their replacements take."""
    verdict = Verdict()
    info = modinfo(elf)
    module_vermagic = info.get("vermagic", "").strip()
    version = rules.kernel_version(module_vermagic) or (
        rules.kernel_version(lookup.kernel_release) if lookup is not None else None)
    not_livepatch = rules.livepatch_flag(info)
    if not_livepatch:
        verdict.problems.append(Problem(ProblemKind.MODULE, "", not_livepatch, forcible=True))
    if target_vermagic and module_vermagic and target_vermagic.strip() != module_vermagic:
        verdict.problems.append(Problem(
            ProblemKind.MODULE, "", f"the module's vermagic {module_vermagic!r} is not the target "
            f"kernel's {target_vermagic.strip()!r}: the kernel refuses to load it",
            forcible=True))
    uses = _check_sections(elf, version, verdict)
    _check_plain_relocations(elf, verdict)
    declared = read_declarations(elf) if lookup is not None else None
    if lookup is not None:
        _bind_symbols(uses, lookup, verdict)
        _check_declarations(verdict, declared, lookup)
    verdict.registration = registration or read_registration(elf)
    findings, warnings = check_registration(
        verdict.registration, {use.section_obj for use in uses.values()}, version,
        KnownObjects(lookup) if lookup is not None else None,
        lookup.builtin_modules if lookup is not None else (),
        lookup is not None and lookup.running)
    verdict.warnings += warnings
    verdict.problems += [Problem(ProblemKind.REGISTRATION, f.subject, f.message,
                                 forcible=f.forcible) for f in findings]
    if lookup is not None and verdict.registration.objects is not None:
        _bind_functions(verdict, lookup, version)
    if debug:
        from klp.verify.debuginfo import check_debuginfo  # reads DWARF: only when asked

        check_debuginfo(verdict, elf, debug, declared)
    return verdict


# -- the patch's own declarations ------------------------------------------------------


def _check_declarations(verdict: Verdict, declared: Declared | None,
                        lookup: SymbolLookup) -> None:
    """Each klp symbol against what the patch declares of it: the kind of symbol (a
    function it calls, a variable it reads), and a variable's size."""
    if declared is None:
        return
    for binding in verdict.bindings:
        function = declared.kind(binding.obj, binding.name, binding.pos)
        if binding.lands is None or function is None:
            continue
        problem = rules.declared_kind(binding.lands, function)
        copies: list[SymbolRecord] = []
        if problem:
            copies = [r for r in lookup.lookup([binding.name]).get(binding.name, [])
                      if r.obj == binding.obj and rules.is_code(r) is function]
            if copies:
                problem += "; " + ", ".join(
                    f"position {r.pos} is {'the function' if function else 'the data'} of "
                    f"{r.file or '?'}" for r in copies)
        elif not function:
            size = declared.variable_size(binding.obj, binding.name, binding.pos)
            problem = rules.declared_size(binding.lands, size or 0)
        if problem:
            verdict.problems.append(Problem(ProblemKind.BINDING, binding.symbol, problem, [],
                                            [binding.lands, *copies], forcible=True))


def check_exports(verdict: Verdict, elf: ElfFile, lookup: SymbolLookup) -> None:
    """Every undefined symbol of the module (a weak one aside) must be exported by an
    object of the target: the module loader resolves it so or refuses the whole
    module (kernel: simplify_symbols(), "Unknown symbol"). What the target only has
    unexported is what ``klp convert`` is for: an unconverted module fails here."""
    names = sorted(n for n in elf.symtab.undefined_names(weak=False) if not rules.provided(n))
    found = lookup.lookup(names)
    unexported = [n for n in names if found.get(n) and not any(r.exported for r in found[n])]
    absent = [n for n in names if not found.get(n)]
    if absent and lookup.objects() == ["vmlinux"]:
        verdict.warnings.append(f"cannot tell whether a module of the target exports "
                                f"{_some(absent)}: the symbol database has vmlinux only "
                                "(build it with --modules)")
        absent = []
    for group, why in ((unexported, "the target defines but does not export"),
                       (absent, "the target does not have")):
        if group:
            verdict.problems.append(Problem(
                ProblemKind.BINDING, group[0],
                f"the module's undefined symbols include {len(group)} that {why}: "
                f'{_some(group)}; the module loader refuses the module ("Unknown symbol '
                f'{group[0]}")' + ("; klp convert makes klp symbols of them"
                                   if group is unexported else "")))


def _some(names: list[str], shown: int = 8) -> str:
    """The first names of a list, and how many more."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


# -- sections and relocations -------------------------------------------------------


def _klp_sections(elf: ElfFile) -> Iterable[Section]:
    """What the kernel treats as klp relocation sections, and what a producer meant to
    be one (a .klp.rela name without the flag)."""
    return (s for s in elf.sections if s.sh_flags & SHF.RELA_LIVEPATCH
            or s.name.startswith(rules.KLP_RELA_PREFIX))


def _check_sections(elf: ElfFile, version: tuple[int, int] | None,
                    verdict: Verdict) -> dict[int, _Use]:
    """Check every klp section and relocation; the well-formed klp symbols they use,
    by symbol index."""
    arch = elf.arch
    table = elf.symtab
    uses: dict[int, _Use] = {}
    parsed: dict[int, rules.KlpSymbolName | str] = {}
    for sec in _klp_sections(elf):
        obj = rules.parse_klp_section(sec.name)
        if obj is None:
            verdict.problems.append(Problem(
                ProblemKind.SECTION, "", f"{sec.name} has an incorrectly formatted name: the "
                "kernel reads .klp.rela.<object, at most 55 bytes, no '.'>.<section>"))
            continue
        why = rules.klp_section(sec)
        if why:
            verdict.problems.append(Problem(ProblemKind.SECTION, "", f"{sec.name} {why}"))
            if sec.sh_type != SHT.RELA:
                continue
        target = rules.loaded_target(elf, sec)
        if target is None:
            verdict.problems.append(Problem(
                ProblemKind.SECTION, "", f"{sec.name} applies to section {sec.sh_info}, which "
                "the module loader never relocates (not allocated, or one it un-allocates: "
                ".modinfo, __versions, the per-CPU data): it is never applied"))
            continue
        why = rules.target_section(target, obj)
        if why:
            verdict.problems.append(Problem(ProblemKind.SECTION, "", f"{sec.name}: {why}"))
        late = rules.late_write(arch, target, obj)
        if late and late[1]:
            verdict.problems.append(Problem(ProblemKind.SECTION, "", f"{sec.name}: {late[0]}",
                                            forcible=True))
        elif late and late[0] not in verdict.warnings:
            verdict.warnings.append(late[0])
        data = target.data
        for rel in elf.rela(sec):
            ref = Reference(sec.name, target.name, rel.offset, arch.reloc_name(rel.type))
            sym = table.symbol(rel.sym)
            problem = _relocation_problem(elf, sym.shndx, rel.type, data, rel.offset)
            if sym.shndx == SHN.LIVEPATCH:
                if rel.sym not in parsed:
                    parsed[rel.sym] = rules.parse_klp_symbol(sym.name, version)
                name = parsed[rel.sym]
                if isinstance(name, rules.KlpSymbolName):
                    problem = _crossing(verdict, obj, sym.name, name.obj) or problem
                uses.setdefault(rel.sym, _Use(sym.name, obj, [])).references.append(ref)
            if problem:
                verdict.problems.append(Problem(ProblemKind.RELOCATION, sym.name, problem, [ref]))
    for index, name in parsed.items():
        if isinstance(name, str):
            verdict.problems.append(Problem(ProblemKind.SYMBOL, uses[index].symbol, name,
                                            uses.pop(index).references))
    return uses


def _crossing(verdict: Verdict, obj: str, symbol: str, symbol_obj: str) -> str | None:
    """A klp symbol of another object than its section's: the kernel's refusal of a
    vmlinux symbol, for the relocation; anything else said once for the symbol."""
    crossing = rules.klp_section_object(obj, symbol, symbol_obj)
    if crossing is None:
        return None
    why, refuse = crossing
    if symbol_obj == "vmlinux":
        return why
    problem = Problem(ProblemKind.SYMBOL, symbol, why, forcible=True)
    if refuse and problem not in verdict.problems:
        verdict.problems.append(problem)
    elif not refuse and why not in verdict.warnings:
        verdict.warnings.append(why)
    return None


def _relocation_problem(elf: ElfFile, shndx: int, rtype: int, data: bytes,
                        offset: int) -> str | None:
    if shndx != SHN.LIVEPATCH:
        # kernel: klp_resolve_symbols, "symbol %s is not marked as a livepatch symbol"
        return "its symbol is not SHN_LIVEPATCH: the kernel refuses the section"
    arch = elf.arch
    for why in (rules.relocation_type(arch, rtype),
                rules.ppc64_call_has_nop(arch, rtype, data, offset),
                rules.x86_target_is_zero(arch, rtype, data, offset)):
        if why:
            return why
    return None


def _check_plain_relocations(elf: ElfFile, verdict: Verdict) -> None:
    """A plain relocation the loader applies against a klp symbol uses its value 0
    (kernel: simplify_symbols leaves SHN_LIVEPATCH symbols alone)."""
    table = elf.symtab
    livepatch = set(table.indices_in(SHN.LIVEPATCH))
    if not livepatch:
        return
    for sec in elf.sections_of_type(SHT.RELA):
        target = rules.loaded_target(elf, sec)
        if sec.sh_flags & SHF.RELA_LIVEPATCH or target is None \
                or sec.sh_link != elf.symtab_section.index:
            continue
        for rel in elf.rela(sec):
            if rel.sym in livepatch:
                verdict.problems.append(Problem(
                    ProblemKind.RELOCATION, table.name(rel.sym), "a plain relocation against a klp "
                    "symbol: the module loader applies it with the symbol's value, 0",
                    [Reference(sec.name, target.name, rel.offset,
                               elf.arch.reloc_name(rel.type))]))


# -- binding ------------------------------------------------------------------------


def _bind_symbols(uses: dict[int, _Use], lookup: SymbolLookup, verdict: Verdict) -> None:
    wanted = {index: parsed for index, use in uses.items()
              if isinstance(parsed := rules.parse_klp_symbol(use.symbol, None),
                            rules.KlpSymbolName)}
    found = lookup.lookup(sorted({w.name for w in wanted.values()}
                                 | set(rules.INIT_MEMORY_BOUNDS)))
    init_memory = rules.init_memory(found)
    builtin, known = lookup.builtin_modules, KnownObjects(lookup)
    for index, want in sorted(wanted.items(), key=lambda item: uses[item[0]].symbol):
        use = uses[index]
        records = [r for r in found.get(want.name, []) if r.obj == want.obj]
        binding = _bind(use.symbol, want, records, len(use.references), known, builtin)
        verdict.bindings.append(binding)
        if binding.problem:
            hints = _variant_hints(want, lookup) if not records and want.obj in known else []
            verdict.problems.append(Problem(ProblemKind.BINDING, use.symbol, binding.problem,
                                            use.references, records, hints))
        if binding.lands is None:
            continue
        freed = rules.freed_after_boot(binding.lands, init_memory)
        if freed and freed[1]:
            verdict.problems.append(Problem(ProblemKind.BINDING, use.symbol, freed[0],
                                            use.references, [binding.lands], forcible=True))
        elif freed and freed[0] not in verdict.warnings:
            verdict.warnings.append(freed[0])


def _variant_hints(want: rules.KlpSymbolName, lookup: SymbolLookup) -> list[str]:
    """For a name its object lacks: that object's symbols of the compiler's names for it
    (klp/symdb/variants.py), and the klp symbol that names each where that is right."""
    from klp.symdb import variants  # a problem's hints: not on a check's way

    hints = []
    for variant, record in variants.records(want.name, lookup):
        if record.obj != want.obj:
            continue
        line = f"{variant.name} ({record.file or want.obj}): {variants.explain(want.name, variant)}"
        if variant.kind.same_symbol and record.sympos is not None:
            line += f": .klp.sym.{want.obj}.{variant.name},{record.sympos} names it"
        hints.append(line)
    return hints[:variants.HINTS]


def _bind(symbol: str, want: rules.KlpSymbolName, records: list[SymbolRecord], uses: int,
          known: Collection[str], builtin: Collection[str]) -> Binding:
    inside = rules.built_in(want.obj, builtin)
    if inside:
        return Binding(symbol, want.obj, want.name, want.pos, uses,
                       problem=f"{inside}: the kernel finds nothing in object {want.obj}; "
                               "name vmlinux")
    if want.obj not in known:
        return Binding(symbol, want.obj, want.name, want.pos, uses,
                       problem=f"the target has no object {want.obj} (not in the symbol "
                               "database, or not loaded and no .ko given): it cannot be "
                               "checked, and the kernel finds nothing there")
    before = rules.bind_position(records, want.pos, late=False)
    if want.obj == "vmlinux":
        if isinstance(before, str):
            return Binding(symbol, want.obj, want.name, want.pos, uses, problem=before)
        return Binding(symbol, want.obj, want.name, want.pos, uses, lands=before)
    after = rules.bind_position(records, want.pos, late=True)
    problem = None
    if isinstance(before, str) or isinstance(after, str):
        parts = []
        if isinstance(before, str):
            parts.append(f"with {want.obj} loaded before the patch: {before}")
        if isinstance(after, str):
            parts.append(f"with {want.obj} loading after the patch: {after}")
        problem = "; ".join(parts)
    elif before != after:
        problem = (f"position {want.pos} depends on load order: {want.obj} loaded before "
                   f"the patch gives {before.section}+{before.value or 0:#x}, loading after "
                   f"it gives {after.section}+{after.value or 0:#x}")
    return Binding(symbol, want.obj, want.name, want.pos, uses,
                   lands=before if not isinstance(before, str) else None,
                   late=after if not isinstance(after, str) and after != before else None,
                   problem=problem)


def _bind_functions(verdict: Verdict, lookup: SymbolLookup,
                    version: tuple[int, int] | None) -> None:
    """klp_init_object_loaded() binds each klp_func's old_name the same way; then what
    the kernel does with the function found: its compiler copies, its call site."""
    registration = verdict.registration
    if registration is None or registration.objects is None:
        return
    patched = {(o.object, f.old_name) for o in registration.objects for f in o.funcs}
    found = lookup.lookup(sorted({name for _, name in patched}))
    copies: dict[str, dict[str, list[str]]] = {}
    shared: dict[str, SharedRanges | None] = {}
    known = KnownObjects(lookup)
    for entry in registration.objects:
        obj = entry.object
        for func in entry.funcs:
            if obj not in known:
                verdict.functions.append(FuncBinding(obj, func.old_name, func.old_sympos,
                                                     new_func=func.new_func))
                continue
            records = [r for r in found.get(func.old_name, []) if r.obj == obj]
            if obj not in copies:
                wanted = {name for of, name in patched if of == obj}
                copies[obj] = lookup.compiler_clones(obj, wanted) or {}
            clones = [c for c in copies[obj].get(func.old_name, []) if (obj, c) not in patched]
            copied = rules.compiler_clones(func.old_name, obj, clones, found=bool(records))
            result = rules.bind_position(records, func.old_sympos, late=False)
            if not isinstance(result, str) and rules.is_code(result) is False:
                result = (f"position {result.pos} is data ({result.file or '?'}), not a "
                          "function: the kernel finds no ftrace call site there and refuses "
                          "the patch")
            if isinstance(result, str):
                problem = f"klp_func {func.old_name} ({entry.place}): {result}"
                if copied and not records:
                    problem += f"; {copied}"
                verdict.functions.append(FuncBinding(obj, func.old_name, func.old_sympos,
                                                     problem=problem, new_func=func.new_func))
                verdict.problems.append(Problem(ProblemKind.FUNCTION, func.old_name, problem, [],
                                                records))
                continue
            verdict.functions.append(FuncBinding(obj, func.old_name, func.old_sympos,
                                                 lands=result, new_func=func.new_func))
            if copied and copied not in verdict.warnings:
                verdict.warnings.append(copied)
            if obj not in shared:
                shared[obj] = lookup.shared_call_sites(obj)
            _check_call_sites(verdict, func.old_name, entry.place, result, shared[obj],
                              version)


def _check_call_sites(verdict: Verdict, old_name: str, place: str, lands: SymbolRecord,
                      shared: SharedRanges | None, version: tuple[int, int] | None) -> None:
    """The kernel hooks the patched function at its one ftrace call site."""
    if shared is None:
        unknown = (f"cannot tell whether the patched functions of {lands.obj} have one "
                   "ftrace call site each (the kernel may hook another: docs/kernels.md): "
                   f"the symbols have no call sites of {lands.obj} (System.map, "
                   "/proc/kallsyms, or a database from an older klp); a symbol database "
                   "built from the ELF files (--vmlinux, the .ko) has them, and so has "
                   "a module's .ko given with --modules")
        if unknown not in verdict.warnings:
            verdict.warnings.append(unknown)
        return
    problem = rules.one_call_site(lands, shared, version)
    if problem:
        verdict.problems.append(Problem(ProblemKind.FUNCTION, old_name,
                                        f"klp_func {old_name} ({place}): {problem}", [],
                                        [lands], forcible=True))
