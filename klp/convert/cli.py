"""``klp convert``: the command (mounted by klp.cli)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from klp.errors import ExitCode, InputError, StaleSymdbError


def convert(
    input: Annotated[Path, typer.Argument(help="The livepatch module (.ko) to convert.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Where to write the result.")
    ] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Rewrite INPUT itself.")] = False,
    symdb: Annotated[
        Path | None, typer.Option("--symdb", help="symbols.klp from `klp symdb build`.")
    ] = None,
    symvers: Annotated[
        Path | None, typer.Option("--symvers", help="Module.symvers: what is exported.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; write nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Use a symdb built for another kernel anyway.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Rewrite a livepatch module's unresolvable relocations into .klp.rela sections."""
    from klp.convert.diagnostics import render, report
    from klp.convert.lookup import open_lookup
    from klp.convert.plan import plan_conversion
    from klp.convert.rewrite import apply_plan
    from klp.elfcodec.elffile import ElfFile
    from klp.symvers import Exports, read_symvers

    if not dry_run and (output is None) == (not in_place):
        raise InputError("give exactly one of -o OUTPUT and --in-place (or --dry-run)")
    target = input if in_place else output
    elf = ElfFile.open(input)
    if elf.e_type != 1:
        raise InputError(f"{input}: not a relocatable object (ET_REL); is it a .ko?")
    lookup = open_lookup(str(symdb)) if symdb else None
    stale = lookup.staleness(elf) if lookup is not None else None
    if stale and not force:
        raise StaleSymdbError(f"{stale} (rebuild it, or pass --force)")
    exports = read_symvers(str(symvers)) if symvers else None
    if exports is None:
        exports = Exports()
        if lookup is not None and "vmlinux" not in lookup.objects():
            raise InputError(f"{symdb} has no vmlinux, so it cannot tell what vmlinux "
                             "exports: pass --symvers Module.symvers")
        if lookup is not None:
            exports.vmlinux = lookup.module_vmlinux_exports(elf)
    plan, problems = plan_conversion(elf, lookup, exports.vmlinux, exports.modules)
    if stale:
        plan.warnings.append(f"--force: {stale}")
    status = "problems" if problems else (
        "already-converted" if plan.already_converted else
        ("dry-run" if dry_run else "converted"))
    doc = report(str(input), None if dry_run or problems else str(target), status, plan,
                 problems)
    if not problems and not dry_run:
        assert target is not None
        if plan.already_converted:
            if target != input:
                elf.write(target)
        else:
            apply_plan(elf, plan)
            elf.write(target)
    if as_json:
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        render(doc, dry_run=dry_run)
    if problems:
        raise typer.Exit(int(ExitCode.UNRESOLVED))
