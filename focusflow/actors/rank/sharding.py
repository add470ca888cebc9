"""Which shard owns a particle: murmur3 64-bit (mmh3) of the CID bytes modulo the count.

The same function as the state actor's ``StateCore`` uses to place ``/graph/pi/<shard>``
slices, so a worker's slice and the stored slice hold the same particles.
"""

from __future__ import annotations

from collections.abc import Sequence

import mmh3
import numpy as np

SHARDS_MAX = 1 << 12  # a u16 travels in messages; 4096 is far beyond one host's GPUs


def shard_of(cid: bytes, shards: int) -> int:
    """The shard of one particle (first unsigned 64-bit half of mmh3 x64-128, mod S)."""
    assert 1 <= shards <= SHARDS_MAX, shards
    return int(mmh3.hash64(cid, signed=False)[0] % shards)


def assign_shards(cids: Sequence[bytes], shards: int) -> np.ndarray:
    """Shards of many particles, as int64 (one mmh3 call each; ~1 µs per CID)."""
    assert 1 <= shards <= SHARDS_MAX, shards
    if shards == 1:
        return np.zeros(len(cids), dtype=np.int64)
    h = np.fromiter((mmh3.hash64(c, signed=False)[0] for c in cids), dtype=np.uint64,
                    count=len(cids))
    return (h % np.uint64(shards)).astype(np.int64)
