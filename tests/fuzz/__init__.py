"""Fuzz targets for klp: damaged inputs must end in a KlpError, never a traceback.

Each target (codec, symdb reader, convert) lives in its own ``*_target.py``
module and exposes a ``TARGET`` (:class:`tests.fuzz.engine.Target`).
``python -m tests.fuzz codec convert -n 100000 --out DIR`` runs long campaigns
and saves one input per distinct finding in DIR; ``python -m tests.fuzz TARGET
--replay FILE`` runs such an input here, traceback and all. tests/test_fuzz.py
runs a short campaign of every target.
"""
