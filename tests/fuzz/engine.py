"""The fuzzing engine: seeds, mutations and campaigns.

Input ``i`` of a campaign is made from ``random.Random(f"{seed}/{target}/{i}")``
alone, so any input can be made again from its number (the parent does that to
save a finding's input; nothing is sent back from the worker but the outcome).
Inputs run in worker processes under an address-space limit and a time limit
per input: a blow-up or a hang is a finding like a traceback.
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.connection
import random
import re
import resource
import shutil
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import klp
from klp.errors import KlpError

FUZZ_DIR = Path(__file__).resolve().parent
KLP_DIR = Path(klp.__file__).resolve().parent


@dataclass(frozen=True)
class Target:
    """One thing to fuzz.

    ``run`` processes one input; anything but a :class:`klp.errors.KlpError`
    escaping it is a finding. ``scratch`` is an empty folder ``run`` may write in.
    """

    name: str
    #: Seed inputs (built from testdata/).
    seeds: Callable[[], list[bytes]]
    run: Callable[[bytes, Path], None]
    #: A structure-aware mutation; None: generic byte-level mutations only.
    mutate: Callable[[random.Random, bytes], bytes] | None = None
    #: Called once per worker process before its first input, with a folder that
    #: lasts the whole campaign (to build what every input needs, once).
    setup: Callable[[Path], None] | None = None


# -- targets ---------------------------------------------------------------------------


def target_modules() -> dict[str, str]:
    """Target name -> module, for every ``tests/fuzz/*_target.py``."""
    found = {}
    for path in sorted(FUZZ_DIR.glob("*_target.py")):
        module = f"tests.fuzz.{path.stem}"
        found[load_target(module).name] = module
    return found


def load_target(module: str) -> Target:
    target = importlib.import_module(module).TARGET
    if not isinstance(target, Target):
        raise TypeError(f"{module}.TARGET is not a Target")
    return target


# -- generic mutations -----------------------------------------------------------------

#: Values that sit on the edges of what a field can hold.
INTERESTING = (0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFF00, 0xFFF1, 0xFFFF,
               0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, 1 << 30, (1 << 63) - 1,
               1 << 63, (1 << 64) - 1)


def interesting(rng: random.Random, width: int, size_hint: int) -> int:
    """An edge value that fits ``width`` bytes; sizes near ``size_hint`` count too."""
    choices = [*INTERESTING, size_hint - 1, size_hint, size_hint + 1]
    value = rng.choice(choices) if rng.random() < 0.85 else rng.getrandbits(8 * width)
    return value % (1 << (8 * width))


def _put_int(data: bytearray, at: int, width: int, value: int, little: bool) -> None:
    data[at : at + width] = value.to_bytes(width, "little" if little else "big")


def generic_mutation(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """One byte-level mutation, blind to the format."""
    if not data:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
    out = bytearray(data)
    size = len(out)
    little = not (size > 5 and out[5] == 2)  # ELF's EI_DATA; a fair guess for other data
    kind = rng.randrange(10)
    at = rng.randrange(size)
    if kind == 0:  # bit flip
        out[at] ^= 1 << rng.randrange(8)
    elif kind == 1:  # byte set
        out[at] = rng.getrandbits(8)
    elif kind == 2:  # an interesting integer, often aligned
        width = rng.choice((1, 2, 4, 8))
        at = at - at % width if rng.random() < 0.7 else at
        if at + width <= size:
            _put_int(out, at, width, interesting(rng, width, size), little)
    elif kind == 3:  # an integer +- a little
        width = rng.choice((1, 2, 4, 8))
        at -= at % width
        if at + width <= size:
            value = int.from_bytes(out[at : at + width], "little" if little else "big")
            value += rng.choice((-8, -1, 1, 8))
            _put_int(out, at, width, value % (1 << (8 * width)), little)
    elif kind == 4:  # truncation
        return bytes(out[: rng.randrange(size)])
    elif kind == 5:  # a chunk copied over another place
        length = rng.randint(1, min(256, size))
        src = rng.randrange(size - length + 1)
        dst = rng.randrange(size - length + 1)
        out[dst : dst + length] = data[src : src + length]
    elif kind == 6:  # a chunk duplicated (inserted: everything after it moves)
        length = rng.randint(1, min(256, size))
        src = rng.randrange(size - length + 1)
        out[at:at] = data[src : src + length]
    elif kind == 7:  # a chunk deleted
        del out[at : at + rng.randint(1, min(256, size))]
    elif kind == 8:  # spliced with another seed
        other = rng.choice(seeds)
        if len(other) > at:
            out[at:] = other[at : at + rng.randint(1, len(other) - at)]
    else:  # a run of one byte (0, 0xff, 0x80: LEB128 continuation)
        length = rng.randint(1, min(64, size - at))
        out[at : at + length] = bytes([rng.choice((0, 0xFF, 0x80))]) * length
    return bytes(out)


def make_input(target: Target, seeds: list[bytes], seed: int, index: int) -> bytes:
    """Input ``index`` of a campaign: a seed, structure-aware and/or generic mutations."""
    rng = random.Random(f"{seed}/{target.name}/{index}")
    data = rng.choice(seeds)
    structured = target.mutate is not None and rng.random() < 0.75
    if structured and target.mutate is not None:
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            data = target.mutate(rng, data)
    for _ in range(rng.choice((0, 0, 1, 2)) if structured else rng.randint(1, 4)):
        data = generic_mutation(rng, data, seeds)
    return data


# -- running one input -----------------------------------------------------------------


class InputTimeout(BaseException):
    """Raised in the worker when one input runs past its time limit.

    A BaseException, so that no ``except Exception`` on the way swallows it.
    """


def classify(exc: BaseException) -> str:
    """A finding's class: the exception type and the innermost klp frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(KLP_DIR)]
    kind = "Timeout" if isinstance(exc, InputTimeout) else type(exc).__name__
    if not frames:
        return kind
    frame = (ours or frames)[-1]
    where = Path(frame.filename).resolve()
    for root in (KLP_DIR.parent, FUZZ_DIR.parent.parent):
        if where.is_relative_to(root):
            where = where.relative_to(root)
            break
    return f"{kind} at {where}:{frame.lineno} ({frame.name})"


@dataclass(frozen=True)
class Outcome:
    index: int
    #: "clean", "klp" (a KlpError) or "finding"
    kind: str
    key: str = ""
    detail: str = ""


def run_one(target: Target, data: bytes, index: int, scratch: Path,
            time_limit: float) -> Outcome:
    """Run one input in this process, its time limited by SIGALRM."""
    def expire(signum: int, frame: FrameType | None) -> None:
        raise InputTimeout(f"input {index} ran past {time_limit} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        target.run(data, scratch)
        outcome = Outcome(index, "clean")
    except KlpError:
        outcome = Outcome(index, "klp")
    except (Exception, InputTimeout) as exc:
        outcome = Outcome(index, "finding", classify(exc), "".join(traceback.format_exception(exc)))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    _empty(scratch)
    return outcome


def _empty(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@dataclass(frozen=True)
class Plan:
    """What one worker process runs."""

    module: str
    seed: int
    indices: range
    workdir: Path
    time_limit: float
    memory_limit: int


def worker(plan: Plan, conn: multiprocessing.connection.Connection) -> None:
    """A worker process: run every input of ``plan.indices`` and report each outcome."""
    resource.setrlimit(resource.RLIMIT_AS, (plan.memory_limit, resource.RLIM_INFINITY))
    target = load_target(plan.module)
    setup = plan.workdir / "setup"
    scratch = plan.workdir / "scratch"
    for folder in (setup, scratch):
        folder.mkdir(parents=True, exist_ok=True)
    if target.setup is not None:
        target.setup(setup)
    seeds = target.seeds()
    conn.send("ready")
    for index in plan.indices:
        data = make_input(target, seeds, plan.seed, index)
        conn.send(run_one(target, data, index, scratch, plan.time_limit))
    conn.send(None)


# -- campaigns -------------------------------------------------------------------------


@dataclass
class Finding:
    key: str
    count: int
    first: int  #: the number of the first input that found it
    detail: str
    saved: Path | None = None


@dataclass
class Report:
    target: str
    inputs: int = 0
    klp_errors: int = 0
    clean: int = 0
    seconds: float = 0.0
    findings: dict[str, Finding] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> Finding | None:
        """Count an outcome; the Finding when it is the first of its class."""
        self.inputs += 1
        if outcome.kind == "clean":
            self.clean += 1
        elif outcome.kind == "klp":
            self.klp_errors += 1
        else:
            known = self.findings.get(outcome.key)
            if known is not None:
                known.count += 1
                return None
            found = Finding(outcome.key, 1, outcome.index, outcome.detail)
            self.findings[outcome.key] = found
            return found
        return None

    def summary(self) -> str:
        rate = self.inputs / self.seconds if self.seconds else 0.0
        lines = [f"{self.target}: {self.inputs} inputs, {self.klp_errors} KlpError, "
                 f"{self.clean} clean, {len(self.findings)} findings, {rate:.1f} inputs/s"]
        for f in sorted(self.findings.values(), key=lambda f: -f.count):
            where = f" -> {f.saved}" if f.saved else ""
            lines.append(f"  {f.count:6d} x {f.key} (input {f.first}){where}")
        return "\n".join(lines)


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")[:120]


class _Worker:
    """One worker process and where it is in its share of the inputs."""

    def __init__(self, context: multiprocessing.context.SpawnContext, plan: Plan) -> None:
        self.plan = plan
        self.pending = iter(plan.indices)
        self.conn, child = context.Pipe(duplex=False)
        self.process = context.Process(target=worker, args=(plan, child), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.deadline = time.monotonic() + _STARTUP

    def next_index(self) -> int | None:
        return next(self.pending, None)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


#: Seconds a worker may take to import klp and run the target's setup.
_STARTUP = 60.0


def campaign(module: str, count: int, *, seed: int = 0, out: Path | None = None,
             jobs: int = 1, time_limit: float = 10.0, memory_limit: int = 2 << 30,
             progress: Callable[[Report], None] | None = None) -> Report:
    """Run inputs 0..count-1 of one target in ``jobs`` worker processes.

    A worker that dies (a crash, the memory limit hit outside Python) or stops
    answering (a hang SIGALRM cannot interrupt) is a finding for the input it was
    on; a new worker carries on after it.
    """
    target = load_target(module)
    seeds = target.seeds()
    report = Report(target.name)
    context = multiprocessing.get_context("spawn")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"klp-fuzz-{target.name}-") as tmp:
        work = Path(tmp)
        starts = iter(range(10**9))

        def spawn(indices: range) -> _Worker:
            plan = Plan(module, seed, indices, work / f"worker-{next(starts)}", time_limit,
                        memory_limit)
            return _Worker(context, plan)

        workers = [spawn(range(j, count, jobs)) for j in range(min(jobs, count))]
        hard_limit = time_limit * 2 + 5
        try:
            while workers:
                for w in _ready(workers):
                    rest = _drain(w, report, target, seeds, seed, out, hard_limit)
                    if rest is None:
                        continue
                    workers.remove(w)
                    w.stop()
                    if len(rest):
                        workers.append(spawn(rest))
                if progress is not None:
                    progress(report)
        finally:
            for w in workers:
                w.stop()
    report.seconds = time.monotonic() - start
    return report


def _ready(workers: list[_Worker]) -> list[_Worker]:
    """Workers with something to read, or past their deadline."""
    now = time.monotonic()
    timeout = max(0.0, min(w.deadline for w in workers) - now)
    ready = multiprocessing.connection.wait([w.conn for w in workers], timeout=timeout)
    now = time.monotonic()
    return [w for w in workers if w.conn in ready or w.deadline <= now]


def _drain(w: _Worker, report: Report, target: Target, seeds: list[bytes], seed: int,
           out: Path | None, hard_limit: float) -> range | None:
    """Read a worker's outcomes: None while it works on; once it finished, died or
    hung, the inputs it did not run (the one it was on is recorded as a finding)."""
    while w.conn.poll():
        try:
            message = w.conn.recv()
        except (EOFError, OSError):
            break
        if message is None:  # its share is done
            return range(0)
        if message == "ready":
            w.ready = True
            w.deadline = time.monotonic() + hard_limit
            continue
        expected = w.next_index()
        if expected != message.index:
            raise RuntimeError(f"worker sent input {message.index}, expected {expected}")
        _record(report, message, target, seeds, seed, out)
        w.deadline = time.monotonic() + hard_limit
    if w.process.is_alive() and w.deadline > time.monotonic():
        return None
    if not w.ready:
        raise RuntimeError(f"a {target.name} worker failed to start (exit code "
                           f"{w.process.exitcode}); see its traceback above")
    index = w.next_index()
    if index is None:
        return range(0)
    hung = w.process.is_alive()
    w.process.kill()
    w.process.join()
    code = w.process.exitcode or 0
    if hung:
        key = f"Hang (no answer in {hard_limit:.0f} s)"
    elif code < 0:
        key = f"Crash (signal {signal.Signals(-code).name})"
    else:
        key = f"Crash (exit code {code})"
    _record(report, Outcome(index, "finding", key, key), target, seeds, seed, out)
    step = w.plan.indices.step
    return range(index + step, w.plan.indices.stop, step)


def _record(report: Report, outcome: Outcome, target: Target, seeds: list[bytes], seed: int,
            out: Path | None) -> None:
    found = report.add(outcome)
    if found is None or out is None:
        return
    folder = out / target.name / _slug(found.key)
    folder.mkdir(parents=True, exist_ok=True)
    data = make_input(target, seeds, seed, found.first)
    (folder / f"input-{found.first}.bin").write_bytes(data)
    (folder / "traceback.txt").write_text(
        f"{found.key}\ninput {found.first} of seed {seed}\n\n{found.detail}\n")
    found.saved = folder


def replay(module: str, data: bytes) -> None:
    """Run one input in this process and let whatever it raises propagate."""
    target = load_target(module)
    with tempfile.TemporaryDirectory(prefix="klp-fuzz-replay-") as tmp:
        setup, scratch = Path(tmp) / "setup", Path(tmp) / "scratch"
        setup.mkdir()
        scratch.mkdir()
        if target.setup is not None:
            target.setup(setup)
        target.run(data, scratch)
