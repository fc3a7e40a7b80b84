"""One object in, the symbols the running kernel keeps for it out, in position order.

A livepatch names a symbol ``<object>, <name>, <position>``, and the kernel counts
that position over its own symbol table. So this module reproduces exactly which
symbols the kernel keeps and in which order it walks them:

* **vmlinux** (kernel: scripts/mksysmap, scripts/kallsyms.c; livepatch needs
  CONFIG_KALLSYMS_ALL, so every section counts): the symbols ``nm -n`` prints,
  minus what mksysmap and kallsyms drop, sorted as kallsyms sorts them: by
  address, then non-weak before weak, then not linker-provided before
  linker-provided, then fewer leading underscores, then System.map order (which
  ``nm -n`` sorts by name). Position N = the N-th same-named symbol in that order
  (kernel/kallsyms.c, kallsyms_on_each_match_symbol walks a name index sorted by
  name, then address).
* **modules** (kernel/module/kallsyms.c, is_core_symbol and add_kallsyms): the
  "core" symbols, in ``.symtab`` order: defined, named, section index below
  e_shnum, and either in the per-cpu section or in an SHF_ALLOC section that is
  not an init section; the loader clears SHF_ALLOC of ``.modinfo``,
  ``__versions`` and ``__version_ext_*`` first (kernel/module/main.c,
  rewrite_section_headers). A module loaded *after* the livepatch is resolved
  while its full symtab is still in place (klp_module_coming runs during
  load_module), where every defined symbol counts; the scanner records that
  "late" position too when it differs.

Bulk paths work on the codec's raw rows and byte strings; no per-symbol objects.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence

from klp.elfcodec.constants import EM, ET, SHF, SHN, SHT, STB, STT, st_bind, st_info, st_type
from klp.elfcodec.dwarf import unit_addresses, unit_ranges
from klp.elfcodec.elffile import ElfFile, Section
from klp.elfcodec.kmod import build_id, is_livepatch, modinfo
from klp.elfcodec.records import ST_INFO, ST_NAME, ST_SHNDX, ST_SIZE, ST_VALUE
from klp.elfcodec.strings import decode_name, encode_name
from klp.elfcodec.symbols import SymbolTable
from klp.errors import ElfError, InputError
from klp.inputs import read_input
from klp.symdb import callsites, clones, kallsyms_table
from klp.symdb.model import KSYMTAB_PREFIX, ObjectSymbols
from klp.symvers import NO_EXPORTS, Exports, ObjectExports, loaded_name

# scripts/mksysmap (v6.1: types a N U w; prefixes $ .L __crc_ __kstrtab_ __kstrtabns_;
# the name L0) plus what later kernels moved there from scripts/kallsyms.c, plus the
# names kallsyms.c itself ignores (its own tables, ppc _SDA_BASE_). Anchored at the
# start of the name, as mksysmap's " <prefix>" patterns are.
_KALLSYMS_OWN = (rb"kallsyms_(?:addresses|offsets|relative_base|num_syms|names|markers"
                 rb"|token_table|token_index|seqs_of_names)\Z")
_IGNORED_VMLINUX = re.compile(
    rb"\$|\.L|__crc_|__kstrtab_|__kstrtabns_|__efistub_|__pi_\$|__pi_\.L"
    rb"|__kvm_nvhe_\$|__kvm_nvhe_\.L|__AArch64ADRPThunk_|__ARMV5PILongThunk_"
    rb"|__ARMV7PILongThunk_|__ThumbV7PILongThunk_|__LA25Thunk_|__microLA25Thunk_"
    rb"|__kcfi_typeid_|__kvm_nvhe___kcfi_typeid_|__pi___kcfi_typeid_"
    rb"|(?:L0|_SDA_BASE_|_SDA2_BASE_)\Z|" + _KALLSYMS_OWN,
)
#: The kallsyms table's own symbols, which later kernels list (kallsyms_table.py).
_KALLSYMS_OWN_NAME = re.compile(_KALLSYMS_OWN)
_IGNORED_FIRST = frozenset(b"$._Lk")
_IGNORED_SUFFIXES = (b"_from_arm", b"_from_thumb", b"_veneer")  # arm
_IGNORED_CONTAINS = re.compile(rb"\.(?:long|plt)_branch\.")  # ppc stubs
#: nm letters kallsyms never keeps: undefined, debugging, absolute, weak undefined
#: (scripts/kallsyms.c is_ignored_symbol; mksysmap drops a N U w).
_DROPPED_LETTERS = frozenset(b"UuNnaAw")
#: The absolute symbols kallsyms keeps anyway (ia64 and alpha names).
_KEPT_ABSOLUTE = frozenset(
    {b"__kernel_syscall_via_break", b"__kernel_syscall_via_epc", b"__kernel_sigtramp", b"__gp"}
)
#: bfd calls a non-SHF_ALLOC section "debugging" by name (bfd/elf.c).
_DEBUG_SECTION = re.compile(rb"\.(?:debug|gnu\.linkonce\.wi\.|line|stab|zdebug)")
#: Sections whose SHF_ALLOC the module loader clears before it picks core symbols.
_LOADER_DROPPED = ("__versions", "__version_ext_crcs", "__version_ext_names", ".modinfo")
#: nm letters of data; a kallsyms table with (almost) none lists code only.
_DATA_LETTERS = [bytes([c]) for c in b"bBdDrRgGsSvV"]
#: Machines whose loader lays a module's .init sections out with its core, so that their
#: symbols stay in kallsyms: ppc64 (arch/powerpc/kernel/module_64.c module_init_section()
#: "We don't handle .init for the moment: always return false", 6.1 to 7.3 at least).
_INIT_IN_CORE = frozenset({EM.PPC64})
# Plain ints for the hot paths (IntFlag arithmetic makes enum objects).
_ALLOC, _WRITE, _EXEC = int(SHF.ALLOC), int(SHF.WRITE), int(SHF.EXECINSTR)
_NOBITS = int(SHT.NOBITS)
_WEAK_OBJECT = st_info(STB.WEAK, STT.OBJECT)
#: One-byte strings by value, so a letter becomes bytes without a call.
_BYTE = [bytes((i,)) for i in range(256)]
#: st_info's binding and type by value: the bulk paths index these, no call per row.
_BIND = [int(st_bind(i)) for i in range(256)]
_TYPE = [int(st_type(i)) for i in range(256)]


# -- vmlinux ---------------------------------------------------------------------------


def _nm_section_letter(sec: Section) -> int:
    """The letter nm gives a symbol of this section (bfd decode_section_type), as a byte."""
    flags = int(sec.sh_flags)
    nobits = sec.sh_type == _NOBITS
    if flags & _EXEC:
        return ord("t")
    if flags & _ALLOC and not nobits:
        return ord("d") if flags & _WRITE else ord("r")
    if nobits:
        return ord("b")
    if _DEBUG_SECTION.match(encode_name(sec.name)):
        return ord("N")
    return ord("?") if flags & _WRITE else ord("n")


def _nm_letter(info: int, shndx: int, section_letters: list[int]) -> int:
    """nm's type letter for a symbol (bfd_decode_symclass), as a byte."""
    stype, bind = st_type(info), st_bind(info)
    if shndx == SHN.UNDEF:
        if bind == STB.WEAK:
            return ord("v") if stype == STT.OBJECT else ord("w")
        return ord("U")
    if shndx == SHN.COMMON:
        return ord("C")
    if stype == STT.GNU_IFUNC:
        return ord("i")
    if bind == STB.WEAK:
        return ord("V") if stype == STT.OBJECT else ord("W")
    if bind == STB.GNU_UNIQUE:
        return ord("u")
    if bind > STB.WEAK:
        return ord("?")
    if shndx >= SHN.LORESERVE or shndx >= len(section_letters):
        letter = ord("a")
    else:
        letter = section_letters[shndx]
    return letter - 32 if bind == STB.GLOBAL and 97 <= letter <= 122 else letter


def _linker_provided(name: bytes) -> bool:
    """scripts/kallsyms.c may_be_linker_script_provide_symbol: __start_x, x_end, ..."""
    if len(name) < 8 or not name.startswith(b"__"):
        return False
    return (name.startswith((b"__start_", b"__stop_", b"__end_"))
            or name.endswith((b"_start", b"_end")))


def _kallsyms_tie_key(name: bytes, letter: int, index: int) -> tuple[int, int, int, bytes, int]:
    """scripts/kallsyms.c compare_symbols after the address; then nm -n's name order."""
    weak = letter in (ord("w"), ord("W"))
    underscores = len(name) - len(name.lstrip(b"_"))
    return (weak, _linker_provided(name), underscores, name, index)


def kernel_release(elf: ElfFile, names: list[bytes], rows: list[int]) -> tuple[str, str]:
    """(release, banner) from ``linux_banner`` ("Linux version <release> ...")."""
    try:
        i = rows[names.index(b"linux_banner")]
    except ValueError:
        return "", ""
    table = elf.symtab
    shndx = table.shndx(i)
    if not 0 < shndx < len(elf.sections):
        return "", ""
    sec = elf.sections[shndx]
    start = table.value(i) - sec.sh_addr
    if sec.is_nobits or not 0 <= start < sec.sh_size:
        return "", ""
    text = bytes(sec.raw()[start : start + 512]).split(b"\0", 1)[0]
    banner = decode_name(text).strip()
    parts = banner.split()
    release = parts[2] if len(parts) > 2 and parts[:2] == ["Linux", "version"] else ""
    return release, banner


def scan_vmlinux(elf: ElfFile, label: str, exports: ObjectExports = NO_EXPORTS
                 ) -> ObjectSymbols:
    """vmlinux's kallsyms symbols, in kallsyms (address) order."""
    if elf.e_type not in (ET.EXEC, ET.DYN):
        raise ElfError(elf.path, "not a linked kernel image (ET_EXEC or ET_DYN); "
                       "pass modules with --modules or as paths")
    if not any(s.sh_flags & _EXEC for s in elf.sections):
        # Debian's headers package (7.x) ships such a vmlinux: .BTF and a few
        # symbols for building modules' BTF, none of the kernel's
        raise ElfError(elf.path, "no code section, so its symbols are not the "
                       "kernel's (a headers package's vmlinux carries only BTF): give the "
                       "vmlinux of the -dbg package or of the build, or --system-map alone")
    table = elf.symtab
    rows = table.rows
    name_at, info_at, shndx_at = ST_NAME, ST_INFO, ST_SHNDX  # locals: per-symbol loops
    # Candidates: named, not section or file symbols (nm hides those), defined or a
    # weak undefined object (nm's "v", which neither mksysmap nor kallsyms drops).
    hidden, types = (int(STT.SECTION), int(STT.FILE)), _TYPE
    cand = [i for i, r in enumerate(rows)
            if (r[shndx_at] or r[info_at] == _WEAK_OBJECT) and r[name_at]
            and types[r[info_at]] not in hidden]
    if cand and cand[0] == 0:
        cand = cand[1:]
    names = table.raw_names(cand)
    shndx = [rows[i][shndx_at] for i in cand]
    if SHN.XINDEX in shndx:
        shndx = [table.shndx(i) for i in cand]
    section_letters = [_nm_section_letter(s) for s in elf.sections]
    kinds = list(zip([rows[i][info_at] for i in cand], shndx, strict=True))  # letter inputs
    memo = {k: _nm_letter(k[0], k[1], section_letters) for k in set(kinds)}
    letters = [memo[k] for k in kinds]
    dropped = _DROPPED_LETTERS
    keep = [k for k, (n, c) in enumerate(zip(names, letters, strict=True))
            if n and not (c in dropped and not (c == ord("A") and n in _KEPT_ABSOLUTE))
            and not ignored_vmlinux_name(n)]
    values = [rows[cand[k]][ST_VALUE] for k in keep]
    order = _kallsyms_order(values, [names[k] for k in keep], [letters[k] for k in keep])
    keep = [keep[j] for j in order]
    code = {s.index for s in elf.sections if s.sh_flags & _EXEC}
    keep, shown, code_only = _as_kernel_table(
        elf, names, lambda k: int(rows[cand[k]][ST_VALUE]), lambda k: shndx[k] in code, keep)
    kept_rows = [cand[k] for k in keep]
    files = source_files(elf, kept_rows)
    secnames = [encode_name(s.name) for s in elf.sections]
    special: dict[int, bytes] = {SHN.ABS: b"*ABS*", SHN.COMMON: b"*COM*", 0: b"*UND*"}
    nsec = len(secnames)
    release, banner = kernel_release(elf, [names[k] for k in keep], kept_rows)
    meta = {"release": release, "build-id": build_id(elf), "banner": banner}
    obj = ObjectSymbols(
        name="vmlinux", label=label, kind="vmlinux", arch=elf.arch.name,
        meta={k: v for k, v in meta.items() if v},
        names=[names[k] for k in keep],
        letters=[_BYTE[c] for c in shown] if shown is not None
        else [_BYTE[letters[k]] for k in keep],
        infos=[rows[i][ST_INFO] for i in kept_rows],
        sizes=[rows[i][ST_SIZE] for i in kept_rows],
        sections=[secnames[x] if 0 < x < nsec else special.get(x, b"*UND*")
                  for x in (shndx[k] for k in keep)],
        values=[rows[i][ST_VALUE] for i in kept_rows],
        files=files,
    )
    obj.exported = _exported(obj.names, exports.all)
    if code_only:
        obj.meta[kallsyms_table.CODE_ONLY_KEY] = "code"
    obj.meta.update(_call_site_meta(elf, obj))
    obj.meta[clones.CLONES_KEY] = _clone_meta(obj)
    return obj


def _as_kernel_table(elf: ElfFile, names: list[bytes], value: Callable[[int], int],
                     in_code: Callable[[int], bool], keep: list[int]
                     ) -> tuple[list[int], bytes | None, bool]:
    """``keep`` (indices into ``names``, in the order the rules above give), made to
    list the names of vmlinux's own kallsyms table in its order (kallsyms_table.py),
    which is what the running kernel counts positions in; the table's letters, which
    /proc/kallsyms shows (x86_64's zero-based per-CPU symbols are ``A`` there, nm's
    ``d``/``D``; None without a table); and whether that table lists code only (a
    kernel without CONFIG_KALLSYMS_ALL). The rules are the kernel's of some
    release with KALLSYMS_ALL; the table is this kernel's (7.x keeps the table's own
    symbols, which 6.1 left out). A name's copies are the first of these that the table
    has as many of: those the rules kept, those of them in code, every copy in .symtab,
    those of them in code; in address order."""

    def address_of(name: bytes) -> int | None:
        try:
            return value(names.index(name))
        except ValueError:
            return None

    try:
        table = kallsyms_table.read_table(elf, address_of)
    except kallsyms_table.TableError as e:
        raise ElfError(elf.path, f"its kallsyms table is damaged: {e}") from None
    if table is None:
        return keep, None, False
    letters, wanted = table
    code_only = sum(map(letters.count, _DATA_LETTERS)) * 100 < len(letters)
    if wanted == [names[k] for k in keep]:
        return keep, letters, code_only
    kept: dict[bytes, list[int]] = defaultdict(list)
    for k in keep:
        kept[names[k]].append(k)
    counts = Counter(wanted)
    every: dict[bytes, list[int]] = defaultdict(list)
    for k, name in enumerate(names):
        if name in counts and len(kept[name]) != counts[name]:
            every[name].append(k)
    copies: dict[bytes, Iterator[int]] = {}
    for name, count in counts.items():
        mine = sorted(every[name], key=value)
        choices = (kept[name], [k for k in kept[name] if in_code(k)], mine,
                   [k for k in mine if in_code(k)])
        found = next((c for c in choices if len(c) == count), None)
        if found is None:
            raise ElfError(elf.path, f"its kallsyms table lists {decode_name(name)} "
                           f"{count} time(s), its .symtab has {len(mine) or len(kept[name])} "
                           "such symbol(s): klp cannot tell which the kernel counts (is "
                           ".symtab stripped?); --system-map alone gives System.map's order "
                           "instead")
        copies[name] = iter(found)
    return [next(copies[name]) for name in wanted], letters, code_only


def _clone_meta(obj: ObjectSymbols) -> str:
    """The object's compiler clones of functions (clones.py), for the database."""
    return " ".join(clones.raw_clone_names(obj.names))


def _call_site_meta(elf: ElfFile, obj: ObjectSymbols) -> dict[str, str]:
    """vmlinux's ftrace call sites for the database: how many, and the kallsyms ranges
    where livepatch may hook the wrong one (callsites.py); nothing without a table."""
    if not all(name in obj.names for name in callsites.TABLE_BOUNDS):
        return {}
    start, stop = (obj.values[obj.names.index(name)] for name in callsites.TABLE_BOUNDS)
    sites = callsites.vmlinux_call_sites(elf, start, stop)
    if sites is None:
        return {}
    shared = callsites.vmlinux_shared(elf, obj.values, sites)
    return {callsites.SITES_KEY: str(len(sites)),
            callsites.SHARED_KEY: callsites.encode_shared(shared)}


def source_files(elf: ElfFile, indices: Sequence[int]) -> list[bytes]:
    """The source file of each symbol of ``indices``: the path of its compile unit when
    the object has DWARF, else the name of the STT_FILE symbol a local follows, else "".

    A local symbol belongs to the translation unit of its STT_FILE symbol; that
    unit's path (``kernel/sched/core.c`` where the symbol only says ``core.c``) is
    the DWARF unit whose code covers a function of the same file. A global function
    gets the unit covering it; global data has no file.
    """
    table = elf.symtab
    groups = table.file_symbols(indices)
    plain = table.file_names(groups)
    unit_of = _unit_lookup(elf)
    if unit_of is None:
        return plain
    paths: dict[int | None, bytes] = {}  # by file symbol (None never a key)
    found: list[bytes | None] = [None] * len(indices)
    rows = table.rows
    func, type_of, shndx_at, value_at = int(STT.FUNC), _TYPE, ST_SHNDX, ST_VALUE
    for k, (i, group) in enumerate(zip(indices, groups, strict=True)):
        row = rows[i]
        if type_of[row[ST_INFO]] != func or (group is not None and group in paths):
            continue
        unit = unit_of(row[shndx_at], row[value_at])
        if unit is None:
            continue
        if group is None:
            found[k] = unit
        elif unit.rsplit(b"/", 1)[-1] == plain[k]:
            paths[group] = unit
    return [path if (path := found[k]) is not None else paths.get(g, plain[k])
            for k, g in enumerate(groups)]


def _unit_lookup(elf: ElfFile) -> Callable[[int, int], bytes | None] | None:
    """(section index, value) -> the path of the DWARF unit whose code holds it; None
    when the object has no unit ranges."""
    if elf.e_type == ET.REL:
        by_section: dict[int, list[tuple[int, int, bytes]]] = defaultdict(list)
        for unit in unit_ranges(elf):
            by_section[unit.shndx].append((unit.start, unit.end, encode_name(unit.name)))
        if not by_section:
            return None
        spans = {k: (sorted(v), [s for s, _, _ in sorted(v)]) for k, v in by_section.items()}

        def in_section(shndx: int, value: int) -> bytes | None:
            found = spans.get(shndx)
            return _covering(found[0], found[1], value) if found else None
        return in_section
    units = [(start, end, encode_name(name)) for start, end, name in unit_addresses(elf)]
    if not units:
        return None
    starts = [start for start, _, _ in units]
    return lambda shndx, value: _covering(units, starts, value)


def _covering(spans: list[tuple[int, int, bytes]], starts: list[int],
              value: int) -> bytes | None:
    at = bisect.bisect_right(starts, value) - 1
    return spans[at][2] if at >= 0 and value < spans[at][1] else None


def _files_from_debug_copy(elf: ElfFile, kept: list[int], files: list[bytes],
                           debug: ElfFile) -> list[bytes]:
    """The source files of ``kept`` as the debug copy knows them: each symbol is the
    copy's symbol of the same name, section name and value (they are one link)."""
    if debug.e_type != ET.REL or debug.e_machine != elf.e_machine:
        raise ElfError(debug.path, f"not a debug copy of {elf.path} (another kind of file)")
    table, copy = elf.symtab, debug.symtab
    rows = range(1, len(copy))
    sections = [s.name for s in debug.sections]
    known = {(name, sections[shndx], copy.value(i)): file
             for i, name, file in zip(rows, copy.raw_names(rows), source_files(debug, rows),
                                      strict=True)
             if file and (shndx := copy.section_of(i)) is not None and shndx < len(sections)}
    names = table.raw_names(kept)
    return [known.get((name, elf.sections[table.section_of(i) or 0].name, table.value(i)),
                      file) for i, name, file in zip(kept, names, files, strict=True)]


def ignored_vmlinux_name(name: bytes) -> bool:
    """mksysmap's and kallsyms' name filters (cheap tests first)."""
    if name[0] in _IGNORED_FIRST and _IGNORED_VMLINUX.match(name):
        return True
    return name.endswith(_IGNORED_SUFFIXES) or (
        b"_branch." in name and bool(_IGNORED_CONTAINS.search(name)))


def _kallsyms_order(values: list[int], names: list[bytes], letters: list[int]) -> list[int]:
    """Indices in kallsyms order: by address; equal addresses by scripts/kallsyms.c
    compare_symbols, then System.map (nm -n: name) order, then symtab order."""
    order = sorted(range(len(values)), key=values.__getitem__)
    shared = {v for v, c in Counter(values).items() if c > 1}
    if not shared:
        return order
    ordered = [values[i] for i in order]
    for value in shared:  # each address's run is contiguous in ``order``
        lo = bisect.bisect_left(ordered, value)
        hi = bisect.bisect_right(ordered, value, lo)
        order[lo:hi] = sorted(order[lo:hi],
                              key=lambda i: _kallsyms_tie_key(names[i], letters[i], i))
    return order


def _exported(names: list[bytes], exports: frozenset[bytes]) -> set[bytes]:
    """Names exported by this object: Module.symvers, or a ``__ksymtab_<name>`` entry."""
    found = {n[10:] for n in names if n.startswith(KSYMTAB_PREFIX)}
    found |= exports
    return found & set(names)


def read_system_map(path: str, exports: ObjectExports = NO_EXPORTS, *,
                    lists_itself: bool = False) -> ObjectSymbols:
    """vmlinux's symbols from System.map, in the file's order, minus what kallsyms drops.
    ``lists_itself``: the kernel's kallsyms lists its own table's symbols (a release
    from kallsyms_table.LISTS_ITSELF_FROM on), which System.map has too."""
    names: list[bytes] = []
    letters: list[bytes] = []
    values: list[int] = []
    data = read_input(path)
    for lineno, line in enumerate(data.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) != 3 or len(parts[1]) != 1:
                raise ValueError
            value = int(parts[0], 16)
        except ValueError:
            # e.g. the one line of Debian's image packages (6.1 to 7.3): "The real
            # System.map is in the ...-dbg package"; or /proc/kallsyms' [module] column
            text = decode_name(line.strip()[:120])
            raise InputError(f"{path}:{lineno}: not a System.map line (address, type, "
                             f"name): {text}") from None
        name, letter = parts[2], parts[1]
        if ignored_vmlinux_name(name) and not (lists_itself and _KALLSYMS_OWN_NAME.match(name)):
            continue
        if letter[0] in _DROPPED_LETTERS and not (letter == b"A" and name in _KEPT_ABSOLUTE):
            continue
        names.append(name)
        letters.append(letter)
        values.append(value)
    if not names:
        raise InputError(f"{path}: no symbols (is it a System.map?)")
    n = len(names)
    obj = ObjectSymbols(
        name="vmlinux", label=path.rsplit("/", 1)[-1], kind="vmlinux", arch="",
        meta={}, names=names, letters=letters, infos=None, sizes=None,
        sections=[b""] * n, values=values, files=[b""] * n,
    )
    obj.exported = _exported(names, exports.all)
    return obj


# -- modules ---------------------------------------------------------------------------


def _kernel_module_letter(sec: Section, is_pcpu: bool) -> int:
    """kernel/module/kallsyms.c elf_type for a defined symbol of this section."""
    flags = int(sec.sh_flags)
    if is_pcpu:
        return ord("a")
    if flags & _EXEC:
        return ord("t")
    if flags & _ALLOC and sec.sh_type != _NOBITS:
        return ord("d") if flags & _WRITE else ord("r")
    if sec.sh_type == _NOBITS:
        return ord("b")
    return ord("n") if sec.name.startswith(".debug") else ord("?")


def core_sections(elf: ElfFile) -> tuple[list[bool], int]:
    """Per section: does it hold core symbols (is_core_symbol); and the per-cpu index."""
    sections = elf.sections
    alloc = [bool(int(s.sh_flags) & _ALLOC) for s in sections]

    def find_sec(name: str) -> int:  # kernel/module/main.c find_sec: first SHF_ALLOC match
        for s in sections:
            if alloc[s.index] and s.name == name:
                return s.index
        return 0

    pcpu = find_sec(".data..percpu")
    for name in _LOADER_DROPPED:
        alloc[find_sec(name)] = False
    init_apart = elf.e_machine not in _INIT_IN_CORE
    core = [a and not (init_apart and s.name.startswith(".init"))
            for a, s in zip(alloc, sections, strict=True)]
    core[0] = False
    if pcpu:
        core[pcpu] = True
    return core, pcpu


def scan_module(elf: ElfFile, label: str, exports: Exports | None = None,
                info: dict[str, str] | None = None,
                debug: ElfFile | None = None) -> ObjectSymbols:
    """A module's core kallsyms symbols, in .symtab order. A distro installs modules
    without their file symbols and DWARF; ``debug``, the module's debug copy (the
    same link, all symbols kept), gives their source files back."""
    if elf.e_type != ET.REL:
        raise ElfError(elf.path, "not a module (ET_REL)")
    info = modinfo(elf) if info is None else info
    name = loaded_name(info, label)
    table = elf.symtab
    rows = table.rows
    sections = elf.sections
    shnum = len(sections)
    core, pcpu = core_sections(elf)
    # field positions as locals: the comprehensions below run per symbol
    name_at, info_at, shndx_at = ST_NAME, ST_INFO, ST_SHNDX
    # kernel/module/kallsyms.c is_core_symbol, in .symtab order (row 0 is never one).
    kept = [i for i, r in enumerate(rows)
            if 0 < r[shndx_at] < shnum and r[name_at] and core[r[shndx_at]]]
    if kept and kept[0] == 0:
        kept = kept[1:]
    krows = [rows[i] for i in kept]
    names = table.raw_names(kept)
    # Named, defined symbols that are not core: only a late-loaded module counts them.
    other = set(table.raw_names([
        i for i, r in enumerate(rows)
        if r[shndx_at] and r[name_at] and (r[shndx_at] >= shnum or not core[r[shndx_at]])]))
    files = source_files(elf, kept)
    if debug is not None:
        files = _files_from_debug_copy(elf, kept, files, debug)
    secnames = [encode_name(s.name) for s in sections]
    sec_letters = [_kernel_module_letter(s, s.index == pcpu) for s in sections]
    symvers = exports.of(name) if exports is not None else NO_EXPORTS
    exported = _exported(names, symvers.all)
    # kernel elf_type: weak symbols are v/w whatever their section.
    weak_object, weak = ord("v"), ord("w")
    binds, types, weak_bind, object_type = _BIND, _TYPE, int(STB.WEAK), int(STT.OBJECT)
    letters = [(weak_object if types[r[info_at]] == object_type else weak)
               if binds[r[info_at]] == weak_bind else sec_letters[r[shndx_at]] for r in krows]
    upper = _plain_exports(names, krows, secnames, symvers) if exported else set()
    if upper:  # /proc/kallsyms: upper case for the module's own EXPORT_SYMBOLs
        once = _unique(names, upper)
        letters = [c - 32 if 97 <= c <= 122 and n in upper
                   and (_BIND[r[info_at]] or n in once) else c
                   for c, n, r in zip(letters, names, krows, strict=True)]
    obj = ObjectSymbols(
        name=name, label=label, kind="module", arch=elf.arch.name,
        meta={k: info[k] for k in ("vermagic", "srcversion") if info.get(k)},
        names=names, letters=[_BYTE[c] for c in letters],
        infos=[r[info_at] for r in krows],
        sizes=[r[ST_SIZE] for r in krows],
        sections=[secnames[r[shndx_at]] for r in krows],
        values=[r[ST_VALUE] for r in krows],
        files=files, exported=exported,
    )
    bid = build_id(elf)
    if bid:
        obj.meta["build-id"] = bid
    obj.meta[clones.CLONES_KEY] = _clone_meta(obj)
    sites = callsites.module_call_sites(elf)
    shared = callsites.module_shared(elf, sites, obj.names, obj.sections, obj.values)
    obj.meta[callsites.SITES_KEY] = str(sum(map(len, sites.values())))
    obj.meta[callsites.SHARED_KEY] = callsites.encode_shared(shared)
    affected = other.intersection(names)
    if affected:
        obj.late = _late_positions(table, kept, affected)
    return obj


def _plain_exports(names: list[bytes], krows: Sequence[tuple[int, ...]], secnames: list[bytes],
                   symvers: ObjectExports) -> set[bytes]:
    """Names /proc/kallsyms shows in upper case: kernel/module/kallsyms.c is_exported
    looks only at the module's EXPORT_SYMBOL table (``__ksymtab``), not the GPL one."""
    ksymtab = {n[len(KSYMTAB_PREFIX):]: secnames[r[ST_SHNDX]]
               for n, r in zip(names, krows, strict=True) if n.startswith(KSYMTAB_PREFIX)}
    if ksymtab:
        return {n for n, sec in ksymtab.items() if sec == b"__ksymtab"}
    return set(symvers.plain)


def _unique(names: list[bytes], wanted: set[bytes]) -> set[bytes]:
    """The names of ``wanted`` defined once: a static exported symbol is then the export."""
    counts = Counter(n for n in names if n in wanted)
    return {n for n, c in counts.items() if c == 1}


def _late_positions(table: SymbolTable, kept: list[int],
                    affected: set[bytes]) -> dict[int, tuple[int, int]]:
    """(position, count) over every defined symbol, for the kept rows named in ``affected``.

    kernel/module/kallsyms.c module_kallsyms_on_each_symbol skips only SHN_UNDEF, and
    while the module is still loading its kallsyms table is the whole symtab.
    """
    where = {row: k for k, row in enumerate(kept)}
    seen: dict[bytes, int] = {}
    late: dict[int, int] = {}
    late_name: dict[int, bytes] = {}
    rows = table.rows
    defined = [i for i in range(1, len(rows)) if rows[i][ST_SHNDX] and rows[i][ST_NAME]]
    for i, name in zip(defined, table.raw_names(defined), strict=True):
        if name in affected:
            seen[name] = seen.get(name, 0) + 1
            if i in where:
                late[where[i]] = seen[name]
                late_name[where[i]] = name
    return {k: (p, seen[late_name[k]]) for k, p in late.items()}


def scan_object(elf: ElfFile, label: str, exports: Exports | None = None,
                debug: ElfFile | None = None) -> ObjectSymbols | None:
    """vmlinux or a module, by ELF type; None for a livepatch module (left out).
    ``debug``: a module's debug copy, for the source files a stripped module lacks."""
    exports = exports or Exports()
    if elf.e_type in (ET.EXEC, ET.DYN):
        return scan_vmlinux(elf, label, exports.of("vmlinux"))
    info = modinfo(elf)
    if is_livepatch(info):
        return None
    return scan_module(elf, label, exports, info, debug)
