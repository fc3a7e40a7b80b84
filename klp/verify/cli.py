"""``klp verify``: the command (added by klp.cli)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    from klp.cli import command

    parser = command(commands, "verify", run, "Check what a livepatch module will bind to on "
                     "its target kernel, before loading it.")
    parser.add_argument("module", metavar="PATCH.ko",
                        help="the finished livepatch module (also as .ko.xz, .ko.gz or .ko.zst)")
    parser.add_argument("--symdb", metavar="F",
                        help="the target kernel's symbols.klp (`klp symdb build`)")
    parser.add_argument("--kallsyms", metavar="F",
                        help="the target kernel's /proc/kallsyms, dumped as root on the "
                             "running system")
    parser.add_argument("--modules", metavar="DIR",
                        help="with --kallsyms: the target modules' .ko files (sizes, source "
                             "files, modules that are not loaded, both load orders, ftrace call "
                             "sites) and modules.builtin")
    parser.add_argument("--sysfs", metavar="DIR",
                        help="with --kallsyms: the target's /sys, or a copy of its kernel/notes "
                             "and module/*/notes and module/*/srcversion, which say which "
                             "build runs (default /sys with --kallsyms /proc/kallsyms)")
    parser.add_argument("--debuginfo", metavar="F", action="append", default=[],
                        help="with --symdb: the target's vmlinux or a module with DWARF, of "
                             "the same build (Debian's -dbg package); warns where the compiler "
                             "inlined a patched function, and compares each replacement's "
                             "prototype with the function's, and the patch's declaration of "
                             "each function it calls with the function's (repeatable)")
    parser.add_argument("--converted-with", metavar="F",
                        help="the symbols.klp the module was converted with, of another build "
                             "of the target's release (a rebuild may move a name's copies): "
                             "each klp symbol and klp_func must bind the copy it named there, "
                             "by source file and kind; for a module without klp convert's "
                             "record of that build, or instead of it")
    parser.add_argument("--json", dest="as_json", action="store_true",
                        help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from klp.errors import ExitCode
    from klp.render import print_json
    from klp.verify.api import verify_file
    from klp.verify.report import render

    verdict, doc = verify_file(args.module, symdb=args.symdb, kallsyms=args.kallsyms,
                               modules=args.modules, sysfs=args.sysfs,
                               debuginfo=args.debuginfo,
                               converted_with=args.converted_with)
    if args.as_json:
        print_json(doc)
    else:
        render(doc)
    return int(ExitCode.UNRESOLVED if verdict.problems else ExitCode.OK)
