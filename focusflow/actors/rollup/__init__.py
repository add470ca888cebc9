"""Semantic rollups (issue 11): one sequencer per bucket orders the bucket's links,
ranks them incrementally, publishes batches to the DA grid under the bucket's namespace
and settles ``SupplyRank`` claims with a hub over IBC-style channels; fraud proofs
re-execute claims from the DA data.

:mod:`.bucket` (buckets), :mod:`.core` (sequencer core), :mod:`.claims` (verification,
the ``ClaimVerifier`` seam), :mod:`.actor` (shells), :mod:`.scenario` (``focusflow sim
--rollups R --hubs H``). See ``docs/rollups.md``.
"""

from __future__ import annotations

from focusflow.actors.rollup.bucket import Bucket, BucketError, BucketMap, bucket_of
from focusflow.actors.rollup.claims import ClaimVerifier, OptimisticVerifier, Replayer
from focusflow.actors.rollup.core import SequencerCore

__all__ = [
    "Bucket",
    "BucketError",
    "BucketMap",
    "ClaimVerifier",
    "OptimisticVerifier",
    "Replayer",
    "SequencerCore",
    "bucket_of",
]
