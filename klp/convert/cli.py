"""``klp convert``: the command (mounted by klp.cli). It maps options onto
:func:`klp.convert.api.convert_module`, prints the outcome and sets the exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


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
        bool, typer.Option("--force", help=(
            "Convert where klp refuses but you may know better: a symdb of another "
            "kernel, a module without livepatch=Y, a klp_object the symdb lacks."))
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Rewrite a livepatch module's unresolvable relocations into .klp.rela sections."""
    from klp.convert.api import convert_module
    from klp.convert.diagnostics import render

    outcome = convert_module(input, output=output, in_place=in_place, symdb=symdb,
                             symvers=symvers, dry_run=dry_run, force=force)
    if as_json:
        json.dump(outcome.report, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        render(outcome.report, dry_run=dry_run)
    if outcome.problems:
        raise typer.Exit(int(outcome.exit_code))
