"""The rollup sequencer as a sans-IO core: order a bucket's links, rank, publish, settle.

Inputs: ``submit`` (links from clients), ``cut_batch`` (the batch timer), ``published``
(the DA grid's data root for a batch), ``settle`` (the settlement timer), ``retire``.
Outputs: frozen effects — :class:`PublishBatch` (a blob for the DA grid under the
bucket's namespace) and :class:`EmitClaim` (a ``SupplyRank`` for the hub). The shell
turns them into messages; this module never touches a clock, a socket or a timer.

Durability (a sequencer crash loses nothing committed): every transition that leaves the
process is also an input the core can replay — ``replay_batch`` (a batch it cut, with the
fees it charged) and ``replay_claim`` (a claim it sent). The shell logs those before their
effects leave and replays them on restart; the core ends where it was, graph included
(rebuilt batch by batch), without re-solving (the claim carries the vector).

Why batches and claims are separate: batches make the data available as soon as they
are cut (the DA grid is what a challenger re-executes from), while a claim is only worth
its settlement cost every period; a claim pins exactly the batches cut since the last
one, by their data roots, so re-execution is unambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from focusflow.actors.rollup.bucket import Bucket, BucketError, bucket_of
from focusflow.actors.rollup.claims import apply_delta
from focusflow.actors.rollup.graph import BucketGraph
from focusflow.actors.rollup.messages import EMPTY_ROOT, Batch, SubmitLinks, SupplyRank
from focusflow.kernels import FocusParams, merkle_root, quantize
from focusflow.wire import from_bytes, to_bytes

__all__ = ["EmitClaim", "PublishBatch", "SequencerCore"]

pending_links_max = 1 << 16
batch_links_max = 4096
unpublished_batches_max = 64


@dataclass(frozen=True, slots=True)
class PublishBatch:
    """Publish ``blob`` (a ``Batch``) to the DA grid under ``namespace``."""

    seq: int
    namespace: bytes
    blob: bytes
    links: int = 0
    fee: int = 0


@dataclass(frozen=True, slots=True)
class EmitClaim:
    """Send this claim to the hub (over the IBC channel)."""

    claim: SupplyRank


Effect = PublishBatch | EmitClaim


class SequencerCore:
    """One bucket's sequencer.

    ``lie`` > 0 makes a *lying* sequencer (tests, chaos): from period ``lie_from`` on it
    inflates the first particle's π by that factor before committing — the claim stays
    well-formed, only re-execution shows it is not a fixed point.
    """

    def __init__(self, bucket: Bucket, sequencer: bytes, *, params: FocusParams | None = None,
                 lie: float = 0.0, lie_from: int = 1) -> None:
        assert sequencer and lie >= 0
        self.bucket, self.sequencer = bucket, sequencer
        self.params = params or FocusParams(eps=1e-9)
        self.graph = BucketGraph(bucket.key, self.params)
        self.lie, self.lie_from = lie, lie_from
        self._neuron: list[np.ndarray] = []
        self._src: list[np.ndarray] = []
        self._dst: list[np.ndarray] = []
        self.pending = 0
        self.seq = 0
        self.roots: dict[int, bytes] = {}  # batch seq -> data root, until claimed
        self.blobs: dict[int, bytes] = {}  # batch seq -> blob, until published
        self.first_unclaimed = 1
        self.period = 0
        self.q = np.zeros(0, dtype=np.uint64)
        self.root = EMPTY_ROOT
        self.period_links = 0
        self.period_fee = 0
        self.pending_fee = 0  # fees of submitted links, charged when the next batch is cut
        self.retiring = False
        self.retired = False
        self.links_ordered = 0

    def submit(self, msg: SubmitLinks) -> tuple[int, int]:
        """Queue links; returns (accepted, refused). Overload is refused, not queued.

        Raises BucketError when the links belong to another bucket (the client's fault).
        """
        if bucket_of(bucket_id=msg.bucket_id, particle_ns=msg.particle_ns) != self.bucket:
            raise BucketError("links of another bucket")
        n = len(msg.src)
        if not len(msg.neuron) == n == len(msg.dst):
            raise BucketError("link arrays differ in length")
        if self.retiring or self.pending + n > pending_links_max:
            return 0, n
        self._neuron.append(np.asarray(msg.neuron, dtype=np.uint64))
        self._src.append(np.asarray(msg.src, dtype=np.uint64))
        self._dst.append(np.asarray(msg.dst, dtype=np.uint64))
        self.pending += n
        self.pending_fee += int(msg.fee)
        return n, 0

    def cut_batch(self) -> list[Effect]:
        """Order what is pending into the next batch (at most ``batch_links_max``)."""
        if not self.pending or len(self.roots) >= unpublished_batches_max:
            return []
        neuron = np.concatenate(self._neuron)
        src = np.concatenate(self._src)
        dst = np.concatenate(self._dst)
        take = min(len(src), batch_links_max)
        self.seq += 1
        batch = Batch(self.bucket.key, self.seq, neuron[:take], src[:take], dst[:take])
        self._neuron, self._src, self._dst = [neuron[take:]], [src[take:]], [dst[take:]]
        self.pending -= take
        fee, self.pending_fee = self.pending_fee, 0
        blob = to_bytes(batch)
        self._ordered(batch, blob, fee)
        return [PublishBatch(self.seq, self.bucket.namespace, blob, take, fee)]

    def _ordered(self, batch: Batch, blob: bytes, fee: int) -> None:
        """Take a cut batch into the graph and the period (live and on replay alike)."""
        assert batch.seq == self.seq and fee >= 0
        self.graph.apply(batch)
        self.period_links += len(batch.src)
        self.links_ordered += len(batch.src)
        self.period_fee += fee
        self.roots[self.seq] = b""
        self.blobs[self.seq] = blob

    def replay_batch(self, blob: bytes, fee: int) -> None:
        """Replay a batch this sequencer cut before a crash (from its durable log).

        Raises ValueError when the blob is not this bucket's next batch (a damaged log).
        """
        batch = from_bytes(Batch, blob)
        if batch.bucket != self.bucket.key or batch.seq != self.seq + 1:
            raise ValueError(f"logged batch {batch.seq} does not follow {self.seq}")
        self.seq += 1
        self._ordered(batch, blob, fee)

    def replay_claim(self, claim: SupplyRank) -> None:
        """Replay a claim this sequencer sent before a crash (from its durable log).

        The vector comes from the claim (no solve); the batches it pins are the ones cut
        since the last claim, their data roots the claim's. Raises ValueError when the
        claim does not extend this core's state (a damaged log).
        """
        seqs = sorted(self.roots)
        roots = claim.batch_roots()
        if (claim.period != self.period + 1 or claim.parent != self.root
                or claim.first_batch != self.first_unclaimed or len(roots) != len(seqs)):
            raise ValueError(f"logged claim {claim.period} does not extend {self.period}")
        q = apply_delta(self.q, claim)
        if merkle_root(q) != claim.root:
            raise ValueError("logged claim's delta does not give its root")
        self.retiring = self.retiring or claim.retire
        self._advance(claim, q, seqs)

    def unpublished_blob(self, seq: int) -> bytes:
        """The blob of a batch still waiting for its data root (to publish again)."""
        assert seq in self.roots and not self.roots[seq]
        return self.blobs[seq]

    def published(self, seq: int, data_root: bytes) -> None:
        """The DA grid took batch ``seq`` into the square with ``data_root``."""
        assert len(data_root) == 32
        if seq in self.roots:
            self.roots[seq] = data_root
            self.blobs.pop(seq, None)

    def retire(self) -> None:
        """Leave: take no more links; the next settlement is the last claim."""
        self.retiring = True

    def settle(self) -> list[Effect]:
        """Emit the period's claim, once every batch since the last one is published."""
        if self.retired or (not self.roots and not self.retiring):
            return []
        if any(not r for r in self.roots.values()):
            return []  # wait for the DA grid: a claim must pin every batch
        if self.retiring and self.pending:
            return self.cut_batch()
        pi = self.graph.solve() if self.graph.store.n else np.zeros(0)
        if self.lie and self.period + 1 >= self.lie_from and len(pi):
            pi = pi.copy()
            pi[0] *= 1.0 + self.lie
            pi /= pi.sum()
        q = quantize(pi)
        changed = np.flatnonzero(q[:len(self.q)] != self.q)
        index = np.concatenate([changed, np.arange(len(self.q), len(q))]).astype(np.uint32)
        root = merkle_root(q)
        seqs = sorted(self.roots)
        assert seqs == list(range(self.first_unclaimed, self.first_unclaimed + len(seqs)))
        claim = SupplyRank(
            self.bucket.key, self.period + 1, self.root, len(q), index, q[index], root,
            self.graph.weight_mass(pi), b"".join(self.roots[s] for s in seqs),
            self.first_unclaimed, self.period_links, self.period_fee, self.retiring,
            self.sequencer)
        self._advance(claim, q, seqs)
        return [EmitClaim(claim)]

    def _advance(self, claim: SupplyRank, q: np.ndarray, seqs: list[int]) -> None:
        """The claim is made: the period, vector and unclaimed batches move on."""
        assert claim.period == self.period + 1 and len(q) == claim.n_particles
        self.period += 1
        self.q, self.root = q, claim.root
        self.first_unclaimed += len(seqs)
        for s in seqs:
            self.blobs.pop(s, None)
        self.roots.clear()
        self.period_links = self.period_fee = 0
        self.retired = self.retiring

    def invariants(self) -> None:
        """Assert the counters agree."""
        assert self.pending == sum(len(s) for s in self._src)
        assert self.first_unclaimed + len(self.roots) == self.seq + 1
        assert len(self.q) <= self.graph.store.n  # particles never disappear from a bucket
        assert not self.retired or self.retiring
