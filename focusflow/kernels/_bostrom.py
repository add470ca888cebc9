"""Bostrom mode: go-cyber ``x/rank`` (CPU path) reproduced bit for bit, quirks included.

What go-cyber computes (``calculate_cpu.go``), and what this module therefore does:

* per-link stake ŝ_u = stake_u // links_u (integer division, uint64);
* W(i→j) = Σ_u ŝ_u and Out(i) = Σ_j W(i→j), uint64 with wrap-around;
* w_ji = float64(W) / float64(Out); links with W = 0 or Out = 0 are skipped;
* r0 = (1 − d)/N for every particle; "dangling" means *no in-links*; with Dn of them
  c = d·(r0·(Dn/N)) + r0 — in that order;
* a particle with in-links gets r_i = ksum·d + c, where ``ksum = r_j·w_ji + ksum`` runs
  over its sources in ascending particle number (separate multiply and add: no FMA);
  a particle without in-links stays at r0; nothing is renormalised;
* iterate while max_i |r_i − r'_i| > tolerance (default 1e-3), at least once;
* output ``uint64(r·1e15)``, truncated.

Two implementations: :func:`bostrom_rank_scalar`, a literal loop (slow, the reference),
and :func:`bostrom_rank`, vectorised across rows but performing, for every row, the very
same IEEE operations in the very same order, so the two agree bit for bit.
Deviation: an iteration cap (``iterations_max``) raises ConvergenceError rather than
looping forever; go-cyber has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from focusflow.kernels._result import ConvergenceError

BOSTROM_DAMPING = 0.85
BOSTROM_TOLERANCE = 1e-3
BOSTROM_SCALE = 1e15
BOSTROM_ITERATIONS_MAX = 100_000
U64 = 1 << 64
TAIL_ROWS = 64  # below this many active rows, finish each row with a sequential accumulate


@dataclass(frozen=True)
class BostromResult:
    """Ranks as go-cyber returns them (uint64) and as floats, with the step count."""

    ranks: np.ndarray  # uint64(r·1e15)
    values: np.ndarray  # float64 r
    steps: int


@dataclass(frozen=True)
class _Graph:
    n: int
    indptr: np.ndarray  # in-link CSR: rows = destinations
    sources: np.ndarray  # ascending within each row
    weights: np.ndarray  # float64 w_ji, 0.0 where go-cyber skips the link
    has_in: np.ndarray  # bool: the particle has any in-link (whatever its stake)


def _link_set(neurons: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Unique (neuron, src, dst) rows: a cyberlink exists once."""
    if len(neurons) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    return np.unique(np.stack([neurons, src, dst], axis=1), axis=0)


def _build(n: int, links: np.ndarray, stakes: Mapping[int, int]) -> _Graph:
    """Integer weights exactly as go-cyber sums them (uint64, wrapping)."""
    u, s, d = links[:, 0], links[:, 1], links[:, 2]
    uu, deg = np.unique(u, return_counts=True)
    stake = np.array([int(stakes.get(int(k), 0)) % U64 for k in uu], dtype=np.uint64)
    per_link = stake // deg.astype(np.uint64)
    share = per_link[np.searchsorted(uu, u)]
    key = s.astype(np.int64) * n + d.astype(np.int64)
    edge, inverse = np.unique(key, return_inverse=True)
    w = np.zeros(len(edge), dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.add.at(w, inverse, share)  # uint64 wraps like Go
        e_src, e_dst = edge // n, edge % n
        out = np.zeros(n, dtype=np.uint64)
        np.add.at(out, e_src, w)
    o = out[e_src]
    skip = (w == 0) | (o == 0)
    weight = np.where(skip, 0.0, w.astype(np.float64) / np.where(o == 0, 1, o).astype(np.float64))
    order = np.lexsort((e_src, e_dst))  # by destination, then ascending source
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(e_dst, minlength=n))
    has_in = np.bincount(e_dst, minlength=n) > 0
    return _Graph(n, indptr, e_src[order].astype(np.int64), weight[order], has_in)


def _prepare(n: int, neurons: object, src: object, dst: object,
             stakes: Mapping[int, int]) -> _Graph | None:
    u = np.asarray(neurons, dtype=np.int64).reshape(-1)
    s = np.asarray(src, dtype=np.int64).reshape(-1)
    d = np.asarray(dst, dtype=np.int64).reshape(-1)
    if not (len(u) == len(s) == len(d)):
        raise ValueError("neurons, src and dst must have the same length")
    if len(s) and (min(s.min(), d.min(), u.min()) < 0 or max(s.max(), d.max()) >= n):
        raise ValueError("indices out of range")
    for k, v in stakes.items():
        if int(v) != v or v < 0:
            raise ValueError(f"bostrom stakes are non-negative integers (neuron {k}: {v!r})")
    if n == 0 or len(stakes) == 0:
        return None  # go-cyber returns an empty rank in both cases
    return _build(n, _link_set(u, s, d), stakes)


def _constants(g: _Graph, damping: float) -> tuple[float, float]:
    r0 = (1.0 - damping) / float(g.n)
    dn = int(g.n - np.count_nonzero(g.has_in))
    inner = r0 * (float(dn) / float(g.n))
    c = float(damping * inner) + r0
    return r0, c


def bostrom_rank_scalar(n: int, neurons: object, src: object, dst: object,
                        stakes: Mapping[int, int], *, damping: float = BOSTROM_DAMPING,
                        tolerance: float = BOSTROM_TOLERANCE,
                        iterations_max: int = BOSTROM_ITERATIONS_MAX) -> BostromResult:
    """The literal loop (reference; slow). Raises ConvergenceError past the cap."""
    g = _prepare(n, neurons, src, dst, stakes)
    if g is None:
        return BostromResult(np.zeros(0, np.uint64), np.zeros(0), 0)
    r0, c = _constants(g, damping)
    prev = [r0] * g.n
    sources, weights = g.sources.tolist(), g.weights.tolist()
    ptr = g.indptr.tolist()
    change, steps = tolerance + 1.0, 0
    while change > tolerance:
        if steps >= iterations_max:
            raise ConvergenceError(f"bostrom rank: change {change} > {tolerance} after {steps} steps")
        rank = list(prev)
        for i in range(g.n):
            if not g.has_in[i]:
                continue
            ksum = 0.0
            for k in range(ptr[i], ptr[i + 1]):
                w = weights[k]
                if w == 0.0:
                    continue  # W = 0 or Out = 0: skipped by go-cyber
                ksum = prev[sources[k]] * w + ksum
            rank[i] = ksum * damping + c
        change = 0.0
        for a, b in zip(prev, rank, strict=True):  # calculateChange, literally
            diff = a - b if a > b else b - a
            if diff > change:  # a NaN diff never wins, as in Go
                change = diff
        prev = rank
        steps += 1
    values = np.array(prev, dtype=np.float64)
    return BostromResult(_to_u64(values), values, steps)


def bostrom_rank(n: int, neurons: object, src: object, dst: object,
                 stakes: Mapping[int, int], *, damping: float = BOSTROM_DAMPING,
                 tolerance: float = BOSTROM_TOLERANCE,
                 iterations_max: int = BOSTROM_ITERATIONS_MAX) -> BostromResult:
    """Vectorised across rows, bit-identical to :func:`bostrom_rank_scalar`.

    Rows are visited k-th in-link by k-th in-link (rows sorted by in-degree so the active
    rows form a prefix); each row therefore sees ``ksum = p_k + ksum`` in ascending
    source order with one rounding per multiply and per add, exactly as the loop does.
    A skipped link contributes ``r·0.0 + ksum``, which equals ksum bit for bit (r finite).
    Raises ConvergenceError past the cap.
    """
    g = _prepare(n, neurons, src, dst, stakes)
    if g is None:
        return BostromResult(np.zeros(0, np.uint64), np.zeros(0), 0)
    r0, c = _constants(g, damping)
    deg = np.diff(g.indptr)
    rows = np.flatnonzero(g.has_in)
    rows = rows[np.argsort(-deg[rows], kind="stable")]
    starts, degs = g.indptr[rows], deg[rows]
    active_by_k = np.searchsorted(-degs, -np.arange(int(degs.max(initial=0))), side="left")
    prev = np.full(g.n, r0)
    change, steps = tolerance + 1.0, 0
    while change > tolerance:
        if steps >= iterations_max:
            raise ConvergenceError(f"bostrom rank: change {change} > {tolerance} after {steps} steps")
        ksum = np.zeros(len(rows))
        with np.errstate(over="ignore", invalid="ignore"):  # wrapped stakes can overflow
            _accumulate(ksum, prev, g, starts, degs, active_by_k)
            rank = prev.copy()
            rank[rows] = ksum * damping + c
        with np.errstate(invalid="ignore"):
            diff = np.abs(prev - rank)
        change = float(np.max(np.where(np.isnan(diff), 0.0, diff), initial=0.0))
        prev = rank
        steps += 1
    return BostromResult(_to_u64(prev), prev, steps)


def _to_u64(values: np.ndarray) -> np.ndarray:
    """uint64(r·1e15), truncated. Finite r in range converts exactly as in Go; a rank
    driven out of range (only possible when uint64 stake sums wrap) has no portable
    value in Go either, and gets numpy's."""
    with np.errstate(invalid="ignore", over="ignore"):
        return (values * BOSTROM_SCALE).astype(np.uint64)


def _accumulate(ksum: np.ndarray, prev: np.ndarray, g: _Graph, starts: np.ndarray,
                degs: np.ndarray, active_by_k: np.ndarray) -> None:
    """ksum = r·w + ksum, k-th in-link of every active row at a time (rows by degree)."""
    for k, active in enumerate(active_by_k):
        if active < TAIL_ROWS:
            _finish_tail(ksum, prev, g, starts, degs, k, int(active))
            break
        idx = starts[:active] + k
        ksum[:active] = prev[g.sources[idx]] * g.weights[idx] + ksum[:active]


def _finish_tail(ksum: np.ndarray, prev: np.ndarray, g: _Graph, starts: np.ndarray,
                 degs: np.ndarray, k: int, active: int) -> None:
    """Finish the few longest rows with a sequential ``add.accumulate`` (strict order)."""
    for t in range(active):
        lo, hi = starts[t] + k, starts[t] + degs[t]
        terms = prev[g.sources[lo:hi]] * g.weights[lo:hi]
        ksum[t] = np.add.accumulate(np.concatenate(([ksum[t]], terms)))[-1]
