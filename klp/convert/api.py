"""``klp convert`` as a function: read, plan, check, write; the command only prints.

Tests, benchmarks and other tools call :func:`convert_module`; the command
in :mod:`klp.convert.cli` maps its options onto it and renders the outcome.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, NamedTuple

from klp.convert.diagnostics import report
from klp.convert.lookup import DbLookup, open_lookup
from klp.convert.model import Plan, Problem
from klp.convert.plan import plan_conversion
from klp.convert.rewrite import apply_plan
from klp.elfcodec.constants import ET
from klp.elfcodec.elffile import ElfFile
from klp.elfcodec.kmod import is_signed
from klp.elfcodec.writer import write_bytes_atomic
from klp.errors import ExitCode, InputError, StaleSymdbError, UsageError
from klp.inputs import COMPRESSED, StrPath, open_object
from klp.livepatch.converted import check_record, write_record
from klp.symvers import read_symvers
from klp.verify.check import verify_module


class Outcome(NamedTuple):
    """What one conversion did."""

    plan: Plan
    problems: list[Problem]
    #: The ``--json`` document (docs/reference.md), also what the terminal shows.
    report: dict[str, Any]
    written: str | None

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.UNRESOLVED if self.problems else ExitCode.OK


def convert_module(
    input: StrPath,
    *,
    output: StrPath | None = None,
    in_place: bool = False,
    symdb: StrPath | None = None,
    symvers: StrPath | None = None,
    dry_run: bool = False,
    force: bool = False,
    verify: bool = True,
    debuginfo: Sequence[StrPath] = (),
) -> Outcome:
    """Convert ``input`` into ``output`` (or in place); nothing is written when the
    plan has problems, when ``klp verify``'s checks reject the result (``verify``),
    or on ``dry_run``. ``debuginfo``: the target's files with DWARF, for verify's
    checks of inlined copies and prototypes. Raises :class:`~klp.errors.KlpError` for bad
    options, unreadable input and a symbol database of another kernel."""
    source = os.fspath(input)
    target = _target(source, None if output is None else os.fspath(output), in_place, dry_run)
    if debuginfo and (symdb is None or not verify or dry_run):
        raise UsageError("--debuginfo goes with --symdb, and is read by the check of the "
                         "result (not with --no-verify or --dry-run)")
    elf = open_object(source)
    if elf.e_type != ET.REL:
        raise InputError(f"{source}: not a relocatable object (ET_REL); is it a .ko?")
    lookup = open_lookup(os.fspath(symdb)) if symdb else None
    debug: dict[str, ElfFile] = {}
    warnings: list[str] = []
    if debuginfo and lookup is not None:
        from klp.verify.debuginfo import debug_files

        debug, notes = debug_files([os.fspath(p) for p in debuginfo], lookup)
        warnings += notes
    exports = read_symvers(os.fspath(symvers), elf.symtab.undefined_names()) \
        if symvers else None
    if lookup is not None:
        check = lookup.check_kernel(elf, exports.vmlinux if exports is not None else None)
        warnings += check.notes
        if check.stale and not force:
            raise StaleSymdbError(f"{check.stale} ({check.remedy})")
        if check.stale:
            warnings.append(f"--force: {check.stale}")
    if exports is not None:
        vmlinux_exports, module_exports = exports.vmlinux, exports.modules
    else:
        vmlinux_exports, module_exports = _vmlinux_exports(lookup, elf, symdb), {}
    plan, problems = plan_conversion(elf, lookup, vmlinux_exports, module_exports)
    plan.warnings[:0] = warnings
    problems = _forced(problems, force, plan.warnings)
    written = None
    if not problems and not dry_run and target is not None:
        if not plan.already_converted:
            if is_signed(elf):
                plan.warnings.append(f"{source} is signed, and the signature cannot match the "
                                     "converted module: it is left out (sign the output, "
                                     "scripts/sign-file, if the kernel checks signatures)")
            apply_plan(elf, plan)
            if lookup is not None:
                write_record(elf, plan.registration, lookup)
        data, result = elf.read_back(target)  # encoded and checked once, for both uses
        check_record(result, target)
        if verify:
            # the symdb's vermagic was compared already (check_kernel, with --force)
            verdict = verify_module(result, lookup, registration=plan.registration,
                                    debug=debug)
            problems = _forced(verdict.problems, force, plan.warnings)
            plan.warnings += [w for w in verdict.warnings if w not in plan.warnings]
        if not problems and (not plan.already_converted or target != source):
            write_bytes_atomic(target, data)
            written = target
    status = "problems" if problems else (
        "already-converted" if plan.already_converted else
        ("dry-run" if dry_run else "converted"))
    doc = report(source, None if dry_run or problems else target, status, plan,
                 problems)
    return Outcome(plan, problems, doc, written)


def _forced(problems: list[Problem], force: bool, warnings: list[str]) -> list[Problem]:
    """With --force, the problems a user may know better about become warnings."""
    if not force:
        return problems
    for problem in problems:
        if problem.forcible and f"--force: {problem.message}" not in warnings:
            warnings.append(f"--force: {problem.message}")
    return [p for p in problems if not p.forcible]


def _target(input: str, output: str | None, in_place: bool, dry_run: bool) -> str | None:
    """Where the result goes. The input is rewritten only with --in-place (an -o that
    names it, by any path, is refused rather than taken as a request to overwrite)."""
    if dry_run:
        return None
    if (output is None) == (not in_place):
        raise UsageError("give exactly one of -o OUTPUT and --in-place (or --dry-run)")
    written = output or input
    if written.endswith(COMPRESSED):
        # the kernel build compresses modules when it installs them, after conversion
        raise UsageError(f"klp writes an uncompressed module: give -o a name without "
                         f"{os.path.splitext(written)[1]} (compress the result afterwards)")
    if output is None:
        return input
    if _same_file(input, output):
        raise UsageError(f"-o {output} names the input; use --in-place to rewrite it")
    return output


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _vmlinux_exports(lookup: DbLookup | None, elf: ElfFile, symdb: StrPath | None
                     ) -> set[str]:
    """Without Module.symvers, vmlinux's exports come from the symbol database."""
    if lookup is None:
        return set()
    if not lookup.has_object("vmlinux"):
        raise InputError(f"{symdb} has no vmlinux, so it cannot tell what vmlinux "
                         "exports: pass --symvers Module.symvers")
    return lookup.module_vmlinux_exports(elf)
