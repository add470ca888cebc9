"""Message types of the sharded focus computation, bound to ``rank.capnp``.

Bulk arrays travel as little-endian ``Data`` fields (``array_field``); the decoders of
the wire layer enforce the frame limits, and :func:`check_mass` / :func:`check_delta`
add the shape checks a receiver needs before it indexes anything with a peer's numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from focusflow.wire import array_field, load_schema, message

schema: Any = load_schema(Path(__file__).with_name("rank.capnp"))

#: Values per Mass / Slice / ShardDelta part: keeps every message well under the wire's
#: 16 MiB limit (a ShardDelta edge row is 8 + 8 + 8 + 4 + 2 bytes at most).
PART_VALUES_MAX = 1 << 18


@message(schema.ShardDelta)
class ShardDelta:
    """One part of a shard's edge delta for block ``height``."""

    height: int
    part: int
    parts: int
    n_local: int
    local_src: np.ndarray = array_field("<u4")
    local_dst: np.ndarray = array_field("<u4")
    local_dw: np.ndarray = array_field("<f8")
    local_dcount: np.ndarray = array_field("<i4")
    cross_src: np.ndarray = array_field("<u4")
    cross_peer: np.ndarray = array_field("<u2")
    cross_dst: np.ndarray = array_field("<u4")
    cross_dw: np.ndarray = array_field("<f8")
    cross_dcount: np.ndarray = array_field("<i4")


@message(schema.Start)
class Start:
    """Begin (or, repeated, resend) an epoch."""

    epoch: int
    height: int
    n_global: int
    damping: float


@message(schema.Mass)
class Mass:
    """Mass crossing from one shard to another in one round."""

    epoch: int
    round: int
    from_shard: int
    part: int
    parts: int
    index: np.ndarray = array_field("<u4")
    mass: np.ndarray = array_field("<f8")


@message(schema.Report)
class Report:
    """A shard's share of the global reduction for one round."""

    epoch: int
    round: int
    shard: int
    residual: float
    dangling: float
    total: float
    incarnation: int = 0


@message(schema.Go)
class Go:
    """Finish round ``round`` with the global dangling mass and normalisation."""

    epoch: int
    round: int
    dangling: float
    scale: float


@message(schema.Stop)
class Stop:
    """Stop at ``round`` and send the slice."""

    epoch: int
    round: int
    converged: bool


@message(schema.Slice)
class Slice:
    """A part of a shard's π values (local order)."""

    epoch: int
    shard: int
    part: int
    parts: int
    offset: int
    values: np.ndarray = array_field("<f8")


@message(schema.Hello)
class Hello:
    """A (re)started worker announces itself and the height it rebuilt at."""

    shard: int
    height: int
    incarnation: int
    backend: str


@message(schema.Fault)
class Fault:
    """Chaos: make the worker fail ("crash" or "gpu")."""

    kind: str


@message(schema.RankBlock)
class RankBlock:
    """One block of link deltas (the state actor's ``LinkDeltas``) plus changed stakes."""

    height: int
    neuron: np.ndarray = array_field("u1")
    src: np.ndarray = array_field("u1")
    dst: np.ndarray = array_field("u1")
    sign: np.ndarray = array_field("i1")
    stake_neuron: np.ndarray = array_field("u1")
    stake: np.ndarray = array_field("<f8")


@message(schema.Committed)
class Committed:
    """The outcome of one block's focus computation."""

    height: int
    root: bytes
    converged: bool
    iterations: int
    residual: float
    epochs: int


@message(schema.RankTick)
class RankTick:
    """The coordinator's retransmit timer."""


class ProtocolError(ValueError):
    """A peer sent a message that cannot be right (remote fault: evidence in the text)."""


def check_mass(msg: Mass, *, shards: int, n_local: int | None = None) -> None:
    """Refuse a Mass whose sender, parts or indices are out of range (a peer's fault)."""
    if not 0 <= msg.from_shard < shards:
        raise ProtocolError(f"mass from unknown shard {msg.from_shard}")
    if not 0 <= msg.part < msg.parts:
        raise ProtocolError(f"mass part {msg.part} of {msg.parts}")
    if len(msg.index) != len(msg.mass) or len(msg.index) > PART_VALUES_MAX:
        raise ProtocolError(f"mass arrays of {len(msg.index)} and {len(msg.mass)} values")
    if n_local is not None and len(msg.index) and int(msg.index.max()) >= n_local:
        raise ProtocolError(f"mass for particle {int(msg.index.max())} of {n_local}")
    if not np.all(np.isfinite(msg.mass)) or (len(msg.mass) and float(msg.mass.min()) < 0):
        raise ProtocolError("mass must be finite and non-negative")


def check_delta(msg: ShardDelta, *, shards: int) -> None:
    """Refuse a ShardDelta with mismatched arrays or ids out of range (a peer's fault)."""
    local = (msg.local_src, msg.local_dst, msg.local_dw, msg.local_dcount)
    cross = (msg.cross_src, msg.cross_peer, msg.cross_dst, msg.cross_dw, msg.cross_dcount)
    if len({len(a) for a in local}) > 1 or len({len(a) for a in cross}) > 1:
        raise ProtocolError("delta arrays of different lengths")
    if not 0 <= msg.part < msg.parts:
        raise ProtocolError(f"delta part {msg.part} of {msg.parts}")
    for ids in (msg.local_src, msg.local_dst, msg.cross_src):
        if len(ids) and int(ids.max()) >= msg.n_local:
            raise ProtocolError(f"local id {int(ids.max())} of {msg.n_local}")
    if len(msg.cross_peer) and int(msg.cross_peer.max()) >= shards:
        raise ProtocolError(f"peer shard {int(msg.cross_peer.max())} of {shards}")
    if not (np.all(np.isfinite(msg.local_dw)) and np.all(np.isfinite(msg.cross_dw))):
        raise ProtocolError("weight changes must be finite")


__all__ = [
    "PART_VALUES_MAX",
    "Committed",
    "Fault",
    "Go",
    "Hello",
    "Mass",
    "ProtocolError",
    "RankBlock",
    "RankTick",
    "Report",
    "ShardDelta",
    "Slice",
    "Start",
    "Stop",
    "check_delta",
    "check_mass",
    "schema",
]
