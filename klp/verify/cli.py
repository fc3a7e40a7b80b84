"""``klp verify``: the command (mounted by klp.cli)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def verify(
    module: Annotated[Path, typer.Argument(
        metavar="PATCH.ko", help="The finished livepatch module.", show_default=False)],
    symdb: Annotated[Path | None, typer.Option(
        "--symdb", metavar="F",
        help="the target kernel's symbols.klp (`klp symdb build`)")] = None,
    kallsyms: Annotated[Path | None, typer.Option(
        "--kallsyms", metavar="F",
        help="the target kernel's /proc/kallsyms, dumped as root on the running system")
    ] = None,
    modules: Annotated[Path | None, typer.Option(
        "--modules", metavar="DIR",
        help="with --kallsyms: the target modules' .ko files (sizes, source files, "
             "modules that are not loaded, both load orders)")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="print the report as JSON")] = False,
) -> None:
    """Check what a livepatch module will bind to on its target kernel, before loading it."""
    from klp.errors import ExitCode
    from klp.verify.api import verify_file
    from klp.verify.report import render

    verdict, doc = verify_file(module, symdb=symdb, kallsyms=kallsyms, modules=modules)
    if as_json:
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        render(doc)
    if verdict.problems:
        raise typer.Exit(int(ExitCode.UNRESOLVED))
