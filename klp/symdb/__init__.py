"""The symbol database: every symbol of a kernel, positioned as the kernel counts.

``sources`` finds the objects and decompresses them, ``scan`` reads one object
the way kallsyms and the module loader do, ``format`` writes and reads
symbols.klp (a module per dialect), ``build`` runs the scan in parallel,
``query`` and ``cli`` are the commands. The converter reads the database through
:class:`klp.symdb.format.SymbolDB`, which hands out
:class:`klp.symdb.model.SymbolRecord` records.
"""
