"""Commitment to π: fixed-point quantisation, a BLAKE3 merkle root, and a cheap verifier.

Quantisation: q_i = round(π_i · 2^60) as uint64. Σπ = 1 so every q_i ≤ 2^60 and the sum
fits in uint64 with room to spare; the resolution is 2^-60 ≈ 8.7e-19 per particle.

Merkle tree: leaves are chunks of LEAF_VALUES little-endian uint64 values, hashed with
BLAKE3 under the key derived from the context ``LEAF_CONTEXT``; inner nodes hash the two
children under ``NODE_CONTEXT`` (an odd node is promoted unchanged); the root binds the
particle count and scale under ``ROOT_CONTEXT``. Distinct derive-key contexts make a leaf,
an inner node and a root impossible to confuse (domain separation).

Verifier: one iteration F of the focus map on the claimed π̂ (dequantised, float64). F is
a d-contraction in L1, so a solver that stopped when ‖π_t − π_{t−1}‖₁ < ε returned π_t with
‖F(π_t) − π_t‖₁ ≤ d·ε. Quantisation moves π by at most n·2^-61 in L1, which moves the
residual by at most (1 + d)·n·2^-61. The verifier accepts when

    ‖F(π̂) − π̂‖₁ ≤ d·ε + (1 + d)·n·2^-61 + slack,

with ``slack`` (default 1e-9) covering float rounding of the proposer (float32 backends
included) and of the verifier. Acceptance also bounds the distance to the true fixed
point: ‖π̂ − π*‖₁ ≤ residual / (1 − d).
"""

from __future__ import annotations

from dataclasses import dataclass

import blake3
import numpy as np

from focusflow.kernels._graph import GraphStore
from focusflow.kernels._result import EPS_DEFAULT, FocusParams

SCALE_BITS = 60
SCALE = float(1 << SCALE_BITS)
LEAF_VALUES = 1024
LEAF_CONTEXT = "focusflow 2026 kernels pi merkle leaf v1"
NODE_CONTEXT = "focusflow 2026 kernels pi merkle node v1"
ROOT_CONTEXT = "focusflow 2026 kernels pi merkle root v1"
VERIFY_SLACK_DEFAULT = 1e-9


def quantize(pi: np.ndarray) -> np.ndarray:
    """π (float, Σ ≈ 1, entries in [0, 1]) → uint64 fixed point at scale 2^60.

    Raises ValueError for NaN, negative or > 1 entries (not a distribution).
    """
    p = np.asarray(pi, dtype=np.float64)
    # min and max propagate NaN, so these two passes also refuse non-finite entries
    if len(p) and not (p.min() >= 0.0 and p.max() <= 1.0):
        raise ValueError("π must be finite with entries in [0, 1]")
    scaled = p * SCALE  # one temporary, rounded in place (π of 10^7+ particles is large)
    np.rint(scaled, out=scaled)
    return scaled.astype(np.uint64)


def dequantize(q: np.ndarray) -> np.ndarray:
    """uint64 fixed point → float64 π."""
    return np.asarray(q, dtype=np.uint64).astype(np.float64) / SCALE


def merkle_root(q: np.ndarray) -> bytes:
    """32-byte BLAKE3 root over the quantised vector (domain-separated, binds n and scale)."""
    q = np.ascontiguousarray(np.asarray(q, dtype="<u8"))
    level = [
        blake3.blake3(q[i:i + LEAF_VALUES].tobytes(), derive_key_context=LEAF_CONTEXT).digest()
        for i in range(0, len(q), LEAF_VALUES)
    ]
    while len(level) > 1:
        nxt = [blake3.blake3(level[i] + level[i + 1], derive_key_context=NODE_CONTEXT).digest()
               for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    top = level[0] if level else b"\x00" * 32
    header = len(q).to_bytes(8, "little") + SCALE_BITS.to_bytes(2, "little")
    return blake3.blake3(header + top, derive_key_context=ROOT_CONTEXT).digest()


@dataclass(frozen=True)
class Commitment:
    """What a proposer publishes: the quantised π and its root."""

    q: np.ndarray
    root: bytes

    @classmethod
    def of(cls, pi: np.ndarray) -> Commitment:
        """Quantise π and compute its root."""
        q = quantize(pi)
        return cls(q, merkle_root(q))


@dataclass(frozen=True)
class Verdict:
    """The verifier's answer with its evidence."""

    accepted: bool
    residual_l1: float
    bound: float
    reason: str


def residual_l1(store: GraphStore, pi: np.ndarray, params: FocusParams) -> float:
    """‖F(π) − π‖₁ for one float64 iteration F of the focus map (no normalisation)."""
    from focusflow.kernels._cpu import CpuSolver

    solver = CpuSolver(store, params)
    solver._start(np.asarray(pi, dtype=np.float64))
    return solver._step()


def verify(store: GraphStore, commitment: Commitment, *, eps: float = EPS_DEFAULT,
           params: FocusParams | None = None,
           slack: float = VERIFY_SLACK_DEFAULT) -> Verdict:
    """Accept a claimed π by recomputing its residual (one iteration) against the bound.

    Rejects a root that does not match the values, a vector of the wrong length, and a
    sum of π farther from 1 than quantisation allows.
    """
    params = params or FocusParams(eps=eps)
    n = store.n
    q = np.asarray(commitment.q, dtype=np.uint64)
    bound = params.damping * eps + (1 + params.damping) * n * 2.0**-(SCALE_BITS + 1) + slack
    if merkle_root(q) != commitment.root:
        return Verdict(False, float("nan"), bound, "root does not match the values")
    if len(q) != n:
        return Verdict(False, float("nan"), bound, f"{len(q)} values for {n} particles")
    if n == 0:
        return Verdict(True, 0.0, bound, "empty graph")
    pi = dequantize(q)
    if abs(pi.sum() - 1.0) > n * 2.0**-SCALE_BITS + slack:
        return Verdict(False, float("nan"), bound, f"Σπ = {pi.sum()!r}, not 1")
    r = residual_l1(store, pi, params)
    if not r <= bound:
        return Verdict(False, r, bound, f"residual {r:.3e} exceeds bound {bound:.3e}")
    return Verdict(True, r, bound, "residual within bound")
