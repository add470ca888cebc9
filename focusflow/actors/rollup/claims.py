"""Claims, their verification and the seam for validity proofs.

A ``SupplyRank`` claim says: "after the batches pinned by these DA data roots, the
bucket's π (fixed point, root R) is the previous claim's vector with this delta applied,
and the bucket's weight mass is w". It is *optimistic*: the hub accepts it after a
challenge window unless someone proves it wrong. Proving it wrong needs no trust in the
sequencer: fetch the batches from the DA grid (each square checked against its pinned
data root), rebuild the bucket's graph, and run the kernels' one-iteration residual
verifier on the claimed π (``focusflow.kernels.verify``); a claim whose residual is
outside the bound, whose weight mass does not match its π, whose delta does not give its
root, or whose batches are missing or malformed is fraudulent.

The hub never calls this module's re-execution directly on the happy path: it only
*adjudicates* a fraud proof (:class:`ClaimVerifier`). A validity-proof system later
plugs in as another ``ClaimVerifier`` with ``challenge_window_ms = 0`` that checks a
proof carried with the claim in :meth:`ClaimVerifier.on_receipt`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from focusflow.actors.da.share import build_square, parse_shares
from focusflow.actors.da.square import ExtendedDataSquare
from focusflow.actors.rollup.graph import BucketGraph
from focusflow.actors.rollup.messages import EMPTY_ROOT, Batch, SupplyRank
from focusflow.kernels import Commitment, FocusParams, merkle_root, verify
from focusflow.kernels._commit import dequantize
from focusflow.wire import WireError, from_bytes, to_bytes

__all__ = [
    "ClaimVerifier",
    "Finding",
    "OptimisticVerifier",
    "Replayer",
    "apply_delta",
    "blob_square",
    "square_blob",
]

#: Relative tolerance on the weight mass (float rounding of n / c).
WEIGHT_MASS_RTOL = 1e-9


def blob_square(namespace: bytes, blob: bytes) -> tuple[bytes, int, np.ndarray]:
    """(data root, k, original square) of a square holding one blob (the DA block)."""
    original = build_square([(namespace, blob)])
    eds = ExtendedDataSquare.extend(original)
    return eds.data_root(), original.shape[0], original


def square_blob(shares: bytes, k: int, data_root: bytes, namespace: bytes) -> bytes:
    """The blob of ``namespace`` in a square, after checking the square's data root.

    Raises ValueError when the shares do not give ``data_root`` or hold no such blob.
    """
    if k < 1 or len(shares) != k * k * 512:
        raise ValueError("square has the wrong size")
    original = np.frombuffer(shares, dtype=np.uint8).reshape(k, k, 512).copy()
    if ExtendedDataSquare.extend(original).data_root() != data_root:
        raise ValueError("square does not match its data root")
    flat = [shares[i * 512:(i + 1) * 512] for i in range(k * k)]
    for ns, data in parse_shares(flat):
        if ns == namespace:
            return data
    raise ValueError("namespace absent from the square")


def apply_delta(prev: np.ndarray, claim: SupplyRank) -> np.ndarray:
    """The claimed full fixed-point vector: ``prev`` grown to n with the delta applied.

    Raises ValueError for a shrinking vector or indices out of range (a malformed claim).
    """
    n = int(claim.n_particles)
    if n < len(prev):
        raise ValueError("a bucket's particle count never shrinks")
    q = np.zeros(n, dtype=np.uint64)
    q[:len(prev)] = prev
    idx = np.asarray(claim.index, dtype=np.int64)
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise ValueError("delta index out of range")
    q[idx] = np.asarray(claim.value, dtype=np.uint64)
    return q


@dataclass(frozen=True)
class Finding:
    """A re-execution's verdict on one claim."""

    fraud: bool
    residual: float
    reason: str


class Replayer:
    """Re-executes one bucket's claims from DA data, claim after claim.

    ``fetch(data_root) -> (shares, k) | None`` supplies squares (from the DA grid); the
    replayer checks each against its data root before trusting a byte of it.
    """

    def __init__(self, bucket: bytes, namespace: bytes, params: FocusParams) -> None:
        self.bucket, self.namespace, self.params = bucket, namespace, params
        self.graph = BucketGraph(bucket, params)
        self.q = np.zeros(0, dtype=np.uint64)
        self.root = EMPTY_ROOT
        self.period = 0
        self.spent = False

    def check(self, claim: SupplyRank,
              fetch: Callable[[bytes], tuple[bytes, int] | None]) -> Finding:
        """Re-execute ``claim`` (the next one of the bucket) and judge it.

        On an honest claim the replayer advances (its graph and vector become the
        claim's). A fraudulent claim leaves it ``spent`` (its graph may hold the bad
        claim's batches): the bucket is frozen by then, and a new replayer judges anew.
        """
        assert claim.bucket == self.bucket and not self.spent
        if claim.period != self.period + 1 or claim.parent != self.root:
            return Finding(True, float("nan"), "claim does not extend the last one")
        if claim.first_batch != self.graph.next_batch:
            return Finding(True, float("nan"), "batches skipped or repeated")
        batches: list[Batch] = []
        for i, data_root in enumerate(claim.batch_roots()):
            got = fetch(data_root)
            if got is None:
                return Finding(False, float("nan"), "data unavailable (cannot judge)")
            try:
                blob = square_blob(got[0], got[1], data_root, self.namespace)
                batch = from_bytes(Batch, blob)
            except (ValueError, WireError) as e:
                return Finding(True, float("nan"), f"bad batch: {e}")
            if batch.bucket != self.bucket or batch.seq != claim.first_batch + i:
                return Finding(True, float("nan"), "batch of another bucket or out of order")
            batches.append(batch)
        return self._judge(claim, batches)

    def _judge(self, claim: SupplyRank, batches: Sequence[Batch]) -> Finding:
        graph = self.graph
        self.spent = True  # until the claim is found honest: the graph moved ahead
        try:
            for b in batches:
                graph.apply(b)
            q = apply_delta(self.q, claim)
        except ValueError as e:
            return Finding(True, float("nan"), f"re-execution failed: {e}")
        if len(q) != graph.store.n:
            return Finding(True, float("nan"), f"{len(q)} values for {graph.store.n} particles")
        if merkle_root(q) != claim.root:
            return Finding(True, float("nan"), "delta does not give the claimed root")
        verdict = verify(graph.store, Commitment(q, claim.root), params=self.params,
                         eps=self.params.eps)
        if not verdict.accepted:
            return Finding(True, verdict.residual_l1, verdict.reason)
        w = graph.weight_mass(dequantize(q))
        if abs(w - claim.weight_mass) > WEIGHT_MASS_RTOL * max(w, 1.0):
            return Finding(True, verdict.residual_l1, f"weight mass {claim.weight_mass} != {w}")
        self.q, self.root, self.period = q, claim.root, claim.period
        self.spent = False
        return Finding(False, verdict.residual_l1, "within bound")


class ClaimVerifier(Protocol):
    """How a hub decides about claims: the seam between fraud and validity proofs.

    ``challenge_window_ms``: how long a claim waits before acceptance (0 for validity
    proofs). ``on_receipt(claim)``: a cheap check at receipt (structure for the
    optimistic verifier; the proof itself for a validity verifier) returning None or the
    reason to reject.
    """

    @property
    def challenge_window_ms(self) -> float:
        """Milliseconds a claim waits for fraud proofs before acceptance."""
        ...

    def on_receipt(self, claim: SupplyRank) -> str | None:
        """None to accept the claim into its window, else the rejection reason."""
        ...


@dataclass(frozen=True)
class OptimisticVerifier:
    """Fraud proofs: structural checks at receipt, acceptance after the window."""

    challenge_window_ms: float = 1_000.0

    def on_receipt(self, claim: SupplyRank) -> str | None:
        """Reject what is malformed on its face; everything else waits for challenges."""
        if claim.period < 1 or not claim.sequencer:
            return "malformed claim"
        if not np.isfinite(claim.weight_mass) or claim.weight_mass < 0:
            return "bad weight mass"
        return None


def claim_bytes(claim: SupplyRank) -> bytes:
    """The claim's bytes (what travels as packet data)."""
    return to_bytes(claim)
