"""Sovereign data availability: share grid, namespaced merkle tree, sampling, reconstruction.

The core (everything here except ``actor``) is pure and runtime-free: build a square from
blobs (:mod:`.share`), extend and commit it (:mod:`.square`, :mod:`.erasure`, :mod:`.nmt`,
:mod:`.merkle`), sample it (:mod:`.sampling`), rebuild it or prove it badly encoded
(:mod:`.reconstruct`), and decide what to keep (:mod:`.pinning`). See ``docs/da.md``.
"""
