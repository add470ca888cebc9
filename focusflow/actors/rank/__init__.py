"""Sharded focus (issue 9): rank shard workers, murmur64 sharding, push-sum rounds,
Δ-rank per block. See ``docs/rank.md``.

* :mod:`.sharding` — ``shard_of(cid, S)``: mmh3 64-bit of the CID bytes mod S;
* :mod:`.store` — :class:`RankStore`, the host graph shards are built and rebuilt from;
* :mod:`.shard` — :class:`ShardCore`, one shard's sans-IO round state machine;
* :mod:`.coordinator` — :class:`CoordinatorCore`: epochs, rounds, commit, Δ-rank, penalty;
* :mod:`.actor` — the thin actor shells and the rank supervisor tree;
* :mod:`.local` — cores wired in one process through a fake wire (tests, benchmark);
* :mod:`.simrun` — the same under the deterministic simulator (CLI, scenario).
"""

from __future__ import annotations

from focusflow.actors.rank.coordinator import BlockOutcome, CoordinatorCore
from focusflow.actors.rank.effects import (
    COORDINATOR,
    Penalty,
    Publish,
    Send,
    StreamDelta,
    WriteGraph,
)
from focusflow.actors.rank.local import LocalRank
from focusflow.actors.rank.shard import ShardCore
from focusflow.actors.rank.sharding import assign_shards, shard_of
from focusflow.actors.rank.store import RankStore, ShardGraph

__all__ = [
    "COORDINATOR",
    "BlockOutcome",
    "CoordinatorCore",
    "LocalRank",
    "Penalty",
    "Publish",
    "RankStore",
    "Send",
    "ShardCore",
    "ShardGraph",
    "StreamDelta",
    "WriteGraph",
    "assign_shards",
    "shard_of",
]
