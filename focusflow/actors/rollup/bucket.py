"""Semantic buckets: which rollup and which DA namespace a link belongs to.

A link's bucket is the explicit bucket id its transaction carries or, failing that, the
29-byte namespace of its particles (the data-availability package's namespaces). A
bucket maps to one rollup (an explicit assignment, else murmur3-64 of the bucket key mod
R, the sharding hash the rank package uses) and to the DA namespace its sequencer
publishes under (``rollup_namespace(bucket key)``). Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mmh3

from focusflow.actors.da.share import NAMESPACE_SIZE, PARITY_NAMESPACE, TAIL_PADDING_NAMESPACE
from focusflow.actors.da.share import rollup_namespace as _rollup_namespace

__all__ = ["Bucket", "BucketError", "BucketMap", "bucket_of", "key64"]

bucket_id_bytes_max = 64
_EXPLICIT = b"id:"
_FROM_NS = b"ns:"


class BucketError(ValueError):
    """The link names no valid bucket (the submitter's fault)."""


@dataclass(frozen=True, slots=True, order=True)
class Bucket:
    """A semantic bucket, identified by its canonical key bytes."""

    key: bytes

    def __post_init__(self) -> None:
        assert self.key.startswith((_EXPLICIT, _FROM_NS)), self.key

    @property
    def namespace(self) -> bytes:
        """The 29-byte DA namespace of the bucket's rollup data."""
        return _rollup_namespace(self.key)

    def __str__(self) -> str:
        body = self.key[3:]
        return body.decode() if self.key.startswith(_EXPLICIT) else body.hex()[:16]


def bucket_of(*, bucket_id: bytes = b"", particle_ns: bytes = b"") -> Bucket:
    """The bucket of a link: explicit id first, else the particles' namespace.

    Raises BucketError when neither is given, the id is too long, or the namespace is not
    a 29-byte user namespace (parity and tail padding are reserved).
    """
    if bucket_id:
        if len(bucket_id) > bucket_id_bytes_max:
            raise BucketError(f"bucket id longer than {bucket_id_bytes_max} bytes")
        return Bucket(_EXPLICIT + bytes(bucket_id))
    if particle_ns:
        ns = bytes(particle_ns)
        if len(ns) != NAMESPACE_SIZE or ns in (PARITY_NAMESPACE, TAIL_PADDING_NAMESPACE):
            raise BucketError("particle namespace must be a 29-byte user namespace")
        return Bucket(_FROM_NS + ns)
    raise BucketError("a link needs a bucket id or a particle namespace")


def key64(raw: bytes) -> int:
    """64-bit key of a particle CID or neuron address (murmur3-64, as the rank shards)."""
    return int(mmh3.hash64(raw, signed=False)[0])


@dataclass(frozen=True)
class BucketMap:
    """bucket → rollup index: explicit assignments, else murmur3-64(key) mod ``rollups``."""

    rollups: int
    assigned: Mapping[bytes, int] | None = None

    def __post_init__(self) -> None:
        assert self.rollups >= 1
        assert all(0 <= r < self.rollups for r in (self.assigned or {}).values())

    def rollup_of(self, bucket: Bucket) -> int:
        """Index of the rollup that sequences ``bucket``."""
        if self.assigned and bucket.key in self.assigned:
            return self.assigned[bucket.key]
        return key64(bucket.key) % self.rollups
