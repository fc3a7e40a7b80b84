"""``klp convert``: the command (added by klp.cli). It maps options onto
:func:`klp.convert.api.convert_module`, prints the outcome and sets the exit code."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def add_parser(commands: Any) -> None:
    from klp.cli import command

    parser = command(commands, "convert", run, "Rewrite a livepatch module's unresolvable "
                     "relocations into .klp.rela sections.")
    parser.add_argument("input", metavar="INPUT.ko",
                        help="the livepatch module to convert (also as .ko.xz, .ko.gz or .ko.zst; "
                             "the output is not compressed)")
    parser.add_argument("-o", "--output", metavar="F",
                        help="write the converted module to F (atomically); F must not be "
                             "INPUT")
    parser.add_argument("--in-place", action="store_true",
                        help="replace INPUT (atomically; INPUT is untouched when anything "
                             "fails)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (which relocation goes where); write nothing")
    parser.add_argument("--symdb", metavar="F",
                        help="symbols.klp from `klp symdb build`; without it only module "
                             "exports listed in `--symvers` can be resolved")
    parser.add_argument("--symvers", metavar="F",
                        help="Module.symvers: vmlinux exports stay normal relocations, module "
                             "exports are converted; without it the symdb's export flags are "
                             "used (it then needs vmlinux)")
    parser.add_argument("--force", action="store_true",
                        help="convert where klp refuses but the user may know better, each "
                             "said as a warning: a symdb of another kernel (instead of exit "
                             "5), a module without `livepatch=Y`, a registered `klp_object` "
                             "the symdb does not have, a ppc64le relocation into read-only "
                             "data, a vmlinux init function or variable, a patched function "
                             "whose kallsyms range holds several ftrace call sites. Never for "
                             "problems the kernel would fail on")
    parser.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                        help="check the result as `klp verify` does before writing it (the "
                             "default); a result it rejects is not written")
    parser.add_argument("--debuginfo", metavar="F", action="append", default=[],
                        help="with --symdb: the target's vmlinux or a module with DWARF, of "
                             "the same build; the check of the result reads it as `klp verify "
                             "--debuginfo` does: inlined copies, prototypes (repeatable)")
    parser.add_argument("--json", dest="as_json", action="store_true",
                        help="print the report below instead of tables")


def run(args: argparse.Namespace) -> int:
    from klp.convert.api import convert_module
    from klp.convert.diagnostics import render

    outcome = convert_module(args.input, output=args.output, in_place=args.in_place,
                             symdb=args.symdb, symvers=args.symvers, dry_run=args.dry_run,
                             force=args.force, verify=args.verify,
                             debuginfo=args.debuginfo)
    if args.output is not None and _is_stdout(str(args.output)):
        sys.stdout = sys.stderr  # the module went there: the report must not follow it
    if args.as_json:
        from klp.render import print_json

        print_json(outcome.report)
    else:
        render(outcome.report, dry_run=args.dry_run)
    return int(outcome.exit_code)


def _is_stdout(path: str) -> bool:
    """``path`` is where standard output goes (``-o /dev/stdout``)."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError):  # no such file yet, or no standard output
        return False
