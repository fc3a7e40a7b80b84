"""``klp symdb build``: scan every object of a kernel in parallel, write symbols.klp.

Workers open, scan and encode whole objects and send back compact byte chunks
(an object's lines and its index keys); the parent files each object's keys in
the index as soon as the object and all before it are in, and joins the chunks.
The output does not depend on ``--jobs`` or on scheduling.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import NamedTuple

from klp.elfcodec.constants import ET
from klp.elfcodec.strings import decode_name
from klp.errors import InputError, KlpError
from klp.inputs import open_object
from klp.symdb.format import BUILTIN_KEY, WRITERS, EncodedObject, header_meta
from klp.symdb.model import Dialect
from klp.symdb.sources import Sources
from klp.symvers import Exports, read_symvers

__all__ = ["BuildResult", "build", "default_jobs"]

#: Modules per worker task: big enough to amortise the round trip, small enough
#: to keep both cores busy to the end.
BATCH = 24

#: Symbols expected, to size the index before the objects arrive (it shrinks after).
EXPECTED_VMLINUX = 100_000
EXPECTED_MODULE = 130
#: Modules tried for the kernel release when vmlinux is given as a System.map.
_VERMAGIC_TRIES = 8

class Task(NamedTuple):
    """One object to scan."""

    kind: str  #: "vmlinux" or "module"
    path: str
    label: str
    system_map: str = ""  #: a System.map to check vmlinux against
    debug: str = ""  #: the module's debug copy (a distro's -dbg package), if any


@dataclass(frozen=True)
class Refused:
    """An object that was read but cannot go into the database: the build fails,
    --keep-going or not (skipping it would leave a database that lies about it)."""

    message: str


#: What a task returns per object: the encoded object, None (a livepatch module,
#: left out), the error message of an unreadable object, or a refusal.
Outcome = EncodedObject | None | str | Refused

_exports = Exports()
_writer = WRITERS[Dialect.KLP]


def _init_worker(exports: Exports, fmt: Dialect) -> None:
    global _exports, _writer
    _exports, _writer = exports, WRITERS[fmt]


def _init_pool_worker(exports: Exports, fmt: Dialect) -> None:
    """A worker process leaves Ctrl-C (SIGINT, which a terminal sends the whole process
    group) to the parent, which stops the build; a worker interrupted while it waits
    for work would print a traceback and break the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(exports, fmt)


def _scan(task: Task) -> Outcome:
    """Scan and encode one object (in a worker, or inline)."""
    from klp.symdb.scan import scan_object

    kind, path, label, system_map, debug = task
    try:
        elf = open_object(path)
        if kind == "vmlinux" and elf.e_type == ET.REL:
            raise InputError(f"{path}: a relocatable object, not a vmlinux")
        obj = scan_object(elf, label, _exports, open_object(debug) if debug else None)
        if obj is None:
            return None
        if system_map:
            _check_against_system_map(obj.names, obj.values, system_map)
    except KlpError as e:
        return str(e)
    except (ValueError, IndexError, OverflowError, struct.error) as e:  # malformed tables
        return f"{path}: malformed object ({type(e).__name__}: {e})"
    try:
        return _writer.encode(obj)
    except KlpError as e:
        return Refused(str(e))


def _scan_batch(tasks: list[Task]) -> list[Outcome]:
    return [_scan(t) for t in tasks]


def _check_against_system_map(names: list[bytes], values: list[int], path: str) -> None:
    """Given both --vmlinux and --system-map: they must list the same names, each with
    the same addresses in the same order (they must come from the same build). The
    vmlinux may list names that System.map's reading leaves out by the rules, where its
    kallsyms table keeps them (7.x: the table's own symbols)."""
    from klp.symdb.scan import ignored_vmlinux_name, read_system_map

    ours: dict[bytes, list[int]] = defaultdict(list)
    for n, v in zip(names, values, strict=True):
        if not ignored_vmlinux_name(n):
            ours[n].append(v)
    theirs: dict[bytes, list[int]] = defaultdict(list)
    smap = read_system_map(path)
    for n, v in zip(smap.names, smap.values, strict=True):
        theirs[n].append(v)
    for wrong, how in ((theirs.keys() - ours.keys(), "names the vmlinux lacks"),
                       (ours.keys() - theirs.keys(), "vmlinux names it lacks"),
                       ({n for n in theirs.keys() & ours.keys() if theirs[n] != ours[n]},
                        "names at other addresses than in the vmlinux")):
        if wrong:
            shown = ", ".join(decode_name(w) for w in sorted(wrong)[:5])
            raise InputError(f"{path}: {len(wrong)} {how} ({shown}); are both from the "
                             "same build?")


@dataclass
class BuildResult:
    """What a build made, for the writer and the closing summary."""

    data: bytes
    objects: int = 0
    symbols: int = 0
    repeated: int = 0  #: names that occur more than once in one object
    load_order: int = 0  #: module symbols whose position depends on load order
    livepatches: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  #: --keep-going: unreadable objects
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _tasks(src: Sources) -> list[Task]:
    tasks: list[Task] = []
    if src.vmlinux is not None:
        tasks.append(Task("vmlinux", src.vmlinux.path, src.vmlinux.label,
                          src.system_map or ""))
    tasks += [Task("module", m.path, m.label, debug=src.debug_copy(m)) for m in src.modules]
    return tasks


def _outcomes(tasks: list[Task], jobs: int, exports: Exports, fmt: Dialect,
              tick: Callable[[int], None]) -> Generator[Outcome, None, None]:
    """Every task's outcome, yielded in task order as soon as it and all earlier ones
    are done. Closing the generator early cancels the tasks not yet started."""
    if jobs <= 1 or len(tasks) <= 4:
        _init_worker(exports, fmt)
        for task in tasks:
            outcome = _scan(task)
            tick(1)
            yield outcome
        return
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    # vmlinux first and alone (it is the biggest), then modules in batches.
    first = 1 if tasks[0].kind == "vmlinux" else 0
    batches = [[0]] if first else []
    batches += [list(range(i, min(i + BATCH, len(tasks)))) for i in range(first, len(tasks),
                                                                         BATCH)]
    ready: dict[int, Outcome] = {}
    following = 0
    with _deferred_interrupt() as interrupted, ProcessPoolExecutor(
            max_workers=min(jobs, len(batches)), mp_context=ctx,
            initializer=_init_pool_worker, initargs=(exports, fmt)) as pool:
        pending: dict[Future[list[Outcome]], list[int]] = {
            pool.submit(_scan_batch, [tasks[i] for i in b]): b for b in batches}
        try:
            while pending and not interrupted:
                done, _ = wait(pending, timeout=_POLL, return_when=FIRST_COMPLETED)
                for fut in done:
                    indices = pending.pop(fut)
                    ready.update(zip(indices, fut.result(), strict=True))
                    tick(len(indices))
                while following in ready and not interrupted:
                    yield ready.pop(following)
                    following += 1
        finally:
            for fut in pending:
                fut.cancel()


#: How often the parent looks for Ctrl-C while it waits for the workers, in seconds.
_POLL = 0.1


@contextlib.contextmanager
def _deferred_interrupt() -> Generator[list[int], None, None]:
    """Ctrl-C while the pool runs, turned from an exception at any point into a flag
    (the list is not empty once it came) and a KeyboardInterrupt when the pool is shut
    down. An exception raised inside the executor's own locking (a future's condition
    half taken) leaves its management thread waiting forever, so klp would hang
    instead of stopping; nor do workers forked before their initializer ran see a
    handler that raises. A SIGINT that the parent ignores (a background job) stays
    ignored."""
    came: list[int] = []
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield came
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: came.append(signum))
    try:
        yield came
    finally:
        signal.signal(signal.SIGINT, previous)
    if came:
        raise KeyboardInterrupt


def _progress(total: int, enabled: bool) -> Generator[Callable[[int], None], None, None]:
    """A tick function for a progress bar on stderr. It redraws on each tick rather
    than from rich's refresh thread, so no thread runs when the pool forks."""
    if not enabled or total < 2:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from klp.render import console

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), auto_refresh=False,
                  console=console(stderr=True), transient=True) as bar:
        task = bar.add_task("scanning", total=total)

        def tick(n: int) -> None:
            bar.advance(task, n)
            bar.refresh()

        yield tick


def build(src: Sources, *, jobs: int, keep_going: bool = False, fmt: Dialect = Dialect.KLP,
          progress: bool = False) -> BuildResult:
    """Scan everything ``src`` names and return the symbols.klp bytes and a summary.

    Objects go into the file in input order: vmlinux, then the modules as found
    (modules.order, or sorted by path). Of two modules with one name the first is
    kept: the kernel can load only one of them.
    """
    start = time.perf_counter()
    exports = read_symvers(src.symvers) if src.symvers else Exports()
    tasks = _tasks(src)
    result = BuildResult(b"")
    expected = (EXPECTED_VMLINUX if src.vmlinux or src.system_map else 0) \
        + EXPECTED_MODULE * len(src.modules)
    writer = WRITERS[fmt]
    asm = writer.assembler(expected)
    if src.system_map and src.vmlinux is None:
        from klp.symdb.scan import read_system_map

        asm.add(writer.encode(read_system_map(src.system_map, exports.of("vmlinux"),
                                              lists_itself=_lists_itself(src))))
    names: dict[str, str] = {}
    scanned: list[EncodedObject] = []
    gen = _progress(len(tasks), progress)
    tick = next(gen)
    outcomes = _outcomes(tasks, jobs, exports, fmt, tick)
    try:
        for task, outcome in zip(tasks, outcomes, strict=True):
            if isinstance(outcome, Refused):
                raise InputError(outcome.message)
            if isinstance(outcome, str):
                if not keep_going or task.kind == "vmlinux":  # no database without it
                    raise InputError(outcome)
                result.skipped.append(outcome)
                continue
            if outcome is None:
                result.livepatches.append(task.label)
                continue
            scanned.append(outcome)
            if outcome.kind == "module" and outcome.name == "vmlinux":
                raise InputError(f"{task.path}: a module named vmlinux (the kernel refuses it)")
            if outcome.name in names:
                result.warnings.append(f"two modules named {outcome.name}: kept "
                                       f"{names[outcome.name]}, left out {outcome.label}")
            else:
                names[outcome.name] = outcome.label
                asm.add(outcome)
    finally:
        outcomes.close()
        gen.close()
    _check_one_architecture(scanned)
    _check_releases(asm.objects, result.warnings)
    source = "system-map" if src.system_map and src.vmlinux is None else (
        "vmlinux" if any(o.kind == "vmlinux" for o in asm.objects) else "none")
    meta = header_meta(asm.objects, source)
    if src.builtin:
        meta[BUILTIN_KEY] = " ".join(sorted(src.builtin))
    result.data = asm.finish(meta)
    result.objects = len(asm.objects)
    result.symbols = sum(o.symbols for o in asm.objects)
    result.repeated = sum(o.repeated for o in asm.objects)
    result.load_order = sum(o.load_order for o in asm.objects)
    result.seconds = time.perf_counter() - start
    return result


def _lists_itself(src: Sources) -> bool:
    """Whether the kernel of a System.map lists its kallsyms table's own symbols, by the
    release in its modules' vermagic (System.map alone cannot tell: it has them either
    way). No readable module with a vermagic: assume not."""
    from klp.elfcodec.kmod import modinfo
    from klp.livepatch.rules import kernel_version
    from klp.symdb.kallsyms_table import LISTS_ITSELF_FROM

    for module in src.modules[:_VERMAGIC_TRIES]:
        try:
            vermagic = modinfo(open_object(module.path)).get("vermagic", "")
        except (KlpError, OSError):
            continue  # the scan reports it
        if version := kernel_version(vermagic):
            return version >= LISTS_ITSELF_FROM
    return False


def _check_one_architecture(objects: list[EncodedObject]) -> None:
    """Every object must be of one machine: vmlinux's, or (a System.map says nothing
    of it) the one most modules have. The codec reads only ELF64 in each machine's
    own byte order (klp.elfcodec.arch), so the machine decides class and byte order
    too. --keep-going does not apply: such an object is not unreadable, it is of
    another kernel."""
    known = [o for o in objects if o.arch]
    if not known:
        return
    vmlinux = next((o for o in known if o.kind == "vmlinux"), None)
    if vmlinux is not None:
        arch, rest = vmlinux.arch, "vmlinux is"
    else:  # most_common keeps the first of equals
        arch, rest = Counter(o.arch for o in known).most_common(1)[0][0], "the other objects are"
    wrong = [o for o in known if o.arch != arch]
    if wrong:
        more = f" ({len(wrong)} objects are not {arch})" if len(wrong) > 1 else ""
        raise InputError(f"{wrong[0].name} ({wrong[0].label}) is {wrong[0].arch}, {rest} "
                         f"{arch}: a symbol database describes one kernel{more}")


def _check_releases(objects: list[EncodedObject], warnings: list[str]) -> None:
    """Warn when modules were built for another kernel release than the vmlinux, and
    when the vmlinux cannot take a livepatch at all."""
    from klp.symdb.kallsyms_table import CODE_ONLY_KEY, CODE_ONLY_MEANS

    if any(o.kind == "vmlinux" and CODE_ONLY_KEY in o.meta for o in objects):
        warnings.append(f"vmlinux: {CODE_ONLY_MEANS} (the database lists what its kallsyms "
                        "has)")
    release = next((o.meta.get("release", "") for o in objects if o.kind == "vmlinux"), "")
    if not release:
        return
    other = [o.name for o in objects
             if o.meta.get("vermagic") and o.meta["vermagic"].split(" ", 1)[0] != release]
    if other:
        warnings.append(f"{len(other)} module(s) have a vermagic for another release than "
                        f"vmlinux's {release} (e.g. {other[0]})")

