"""The kernel's livepatch contract: what a livepatch module must be for the kernel to
apply it as meant. Both stages check against it: ``klp convert`` before it writes a
module, ``klp verify`` on a finished one, whoever made it.

- :mod:`klp.livepatch.rules`: the module loader's and the livepatch core's rules,
  one function per rule, each naming the kernel code it follows;
- :mod:`klp.livepatch.registration`: the objects and functions a patch registers
  (its ``klp_patch``), read from the module's data.
"""
