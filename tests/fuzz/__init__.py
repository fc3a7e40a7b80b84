"""Fuzz targets for klp: damaged inputs must end in a KlpError, never a traceback.

Each target (codec, symdb reader, convert) lives in its own module and exposes a
``TARGET`` (:class:`tests.fuzz.engine.Target`).
"""
