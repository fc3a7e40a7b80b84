"""``klp verify``: what a finished livepatch module will bind to on its target kernel,
and every rule of the kernel's livepatch contract it breaks, whoever produced it.

- :mod:`klp.verify.check`: the checks, as the kernel makes them;
- :mod:`klp.verify.kallsyms`: a running kernel's symbols from a /proc/kallsyms dump;
- :mod:`klp.verify.report`: the report, for a terminal and as JSON;
- :mod:`klp.verify.cli`: the command.
"""
