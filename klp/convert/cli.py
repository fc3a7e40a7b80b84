"""``klp convert``: the command (mounted by klp.cli). It maps options onto
:func:`klp.convert.api.convert_module`, prints the outcome and sets the exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def convert(
    input: Annotated[Path, typer.Argument(
        metavar="INPUT.ko", help="The livepatch module to convert.", show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", metavar="F",
        help="write the converted module to F (atomically); F must not be INPUT")] = None,
    in_place: Annotated[bool, typer.Option(
        "--in-place",
        help="replace INPUT (atomically; INPUT is untouched when anything fails)")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="print the plan (which relocation goes where); write nothing")
    ] = False,
    symdb: Annotated[Path | None, typer.Option(
        "--symdb", metavar="F",
        help="symbols.klp from `klp symdb build`; without it only module exports listed in "
             "`--symvers` can be resolved")] = None,
    symvers: Annotated[Path | None, typer.Option(
        "--symvers", metavar="F",
        help="Module.symvers: vmlinux exports stay normal relocations, module exports are "
             "converted; without it the symdb's export flags are used (it then needs "
             "vmlinux)")] = None,
    force: Annotated[bool, typer.Option(
        "--force",
        help="convert where klp refuses but the user may know better, each said as a "
             "warning: a symdb of another kernel (instead of exit 5), a module without "
             "`livepatch=Y`, a registered `klp_object` the symdb does not have. Never for "
             "problems the kernel would fail on")] = False,
    verify: Annotated[bool, typer.Option(
        "--verify/--no-verify",
        help="check the result as `klp verify` does before writing it (the default); a "
             "result it rejects is not written")] = True,
    as_json: Annotated[bool, typer.Option(
        "--json", help="print the report below instead of tables")] = False,
) -> None:
    """Rewrite a livepatch module's unresolvable relocations into .klp.rela sections."""
    from klp.convert.api import convert_module
    from klp.convert.diagnostics import render

    outcome = convert_module(input, output=output, in_place=in_place, symdb=symdb,
                             symvers=symvers, dry_run=dry_run, force=force, verify=verify)
    if as_json:
        json.dump(outcome.report, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        render(outcome.report, dry_run=dry_run)
    if outcome.problems:
        raise typer.Exit(int(outcome.exit_code))
