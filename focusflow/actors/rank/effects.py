"""Effects the rank cores return (sans-IO: the shells or a test wire carry them out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: ``Send.to`` for the coordinator; shards are 0..S-1.
COORDINATOR = -1


@dataclass(frozen=True, slots=True)
class Send:
    """Deliver ``msg`` (a registered message) to shard ``to`` or to the COORDINATOR."""

    to: int
    msg: Any


@dataclass(frozen=True, slots=True)
class Publish:
    """A block's outcome (a ``Committed`` message) for whoever listens (consensus, tests)."""

    msg: Any


@dataclass(frozen=True)
class WriteGraph:
    """Δ-rank written on-chain: whole ``/graph/pi/<shard>`` slices of the shards that
    changed since the last write (``FocusSlice`` values for the state actor)."""

    height: int
    slices: tuple[Any, ...]


@dataclass(frozen=True)
class StreamDelta:
    """Δ-rank streamed off-chain between writes: changed particles and their new values."""

    height: int
    index: np.ndarray  # int64 global ids
    values: np.ndarray  # uint64 fixed point


@dataclass(frozen=True, slots=True)
class Penalty:
    """A proposer whose π did not converge within the cap, or failed verification."""

    proposer: str
    height: int
    reason: str


__all__ = ["COORDINATOR", "Penalty", "Publish", "Send", "StreamDelta", "WriteGraph"]
