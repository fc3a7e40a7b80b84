"""Helpers the tests share: paths, the command line, builders and binutils oracles.

Test modules import from here, never from each other."""
