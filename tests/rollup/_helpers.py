"""Shared helpers of the rollup tests: a fake DA grid, link workloads, a hub clock."""

from __future__ import annotations

import numpy as np

from focusflow.actors.hub.core import Effect, HubCore
from focusflow.actors.rollup.bucket import Bucket
from focusflow.actors.rollup.claims import blob_square
from focusflow.actors.rollup.core import EmitClaim, PublishBatch, SequencerCore
from focusflow.actors.rollup.messages import SubmitLinks, SupplyRank


class FakeDa:
    """Squares by data root, as the DA grid actor keeps them."""

    def __init__(self) -> None:
        self.squares: dict[bytes, tuple[bytes, int]] = {}

    def fetch(self, root: bytes) -> tuple[bytes, int] | None:
        return self.squares.get(root)

    def run(self, core: SequencerCore, effects: list) -> list[SupplyRank]:
        claims = []
        for e in effects:
            if isinstance(e, PublishBatch):
                root, k, sq = blob_square(e.namespace, e.blob)
                self.squares[root] = (sq.tobytes(), k)
                core.published(e.seq, root)
            elif isinstance(e, EmitClaim):
                claims.append(e.claim)
        return claims


def links(rng: np.random.Generator, bucket: Bucket, n: int, *, particles: int = 60,
          fee: int = 7) -> SubmitLinks:
    """n random links of ``bucket`` (explicit bucket id)."""
    src = rng.integers(0, particles, n).astype(np.uint64)
    dst = (src + 1 + rng.integers(0, particles - 1, n).astype(np.uint64)) % np.uint64(particles)
    neuron = rng.integers(0, 6, n).astype(np.uint64)
    return SubmitLinks(neuron, src, dst, bucket_id=bucket.key[3:], fee=fee)


def period(core: SequencerCore, da: FakeDa, rng: np.random.Generator, n: int = 80
           ) -> SupplyRank:
    """Submit n links, cut a batch, settle: the period's claim."""
    core.submit(links(rng, core.bucket, n))
    da.run(core, core.cut_batch())
    claims = da.run(core, core.settle())
    assert len(claims) == 1
    return claims[0]


PROBE_NS = 100_000_000


def advance(hub: HubCore, da: FakeDa | None, from_ns: int, to_ns: int) -> list[Effect]:
    """Run a hub core's clock from ``from_ns`` to ``to_ns`` as its shell would: every
    100 ms the hub probes the DA grid (``da`` None: the grid does not answer) and ticks.
    Returns the effects."""
    assert from_ns <= to_ns
    out: list[Effect] = []
    for t in range(from_ns, to_ns + 1, PROBE_NS):
        roots = hub.probe_roots()
        if roots is not None and da is not None:
            out += hub.observed([r for r in roots if da.fetch(r) is not None], t, t) or []
        out += hub.tick(t)
    return out
