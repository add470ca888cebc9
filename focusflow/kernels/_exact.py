"""Exact focus: the committed π as a fixed-point iteration over integers (issue 17).

Why: every validator signs a header carrying the π root, so every validator must compute
the same bits whatever its hardware, its summation order or the history of edits of its
graph store. Floats cannot promise that; integers can, when every sum is an integer sum
that cannot overflow (then any order gives the same bits) and every product is rounded
by one rule. The definition (docs/kernels.md, "Exact focus") in short, with S = 60:

* weights W_ij are integers (an exact :class:`GraphStore`), out_i = Σ_j W_ij < 2^62;
* per source: s_i = 64 − bitlen(out_i), D_i = out_i·2^s_i ∈ [2^63, 2^64),
  R_i = ⌊(2^127 − 1)/D_i⌋ ∈ [2^63, 2^64) and per link W'_ij = W_ij·2^s_i < 2^64
  (R_i = 0 and no W' for a dangling source, out_i = 0);
* π is a uint64 vector with Σπ ≤ 2^S; one iteration:
  x_i = hi64(2π_i · R_i);  y_j = Σ_{i→j} hi64(W'_ij · x_i);
  z_j = ⌊y_j · δ / 2^32⌋ with δ = round(d·2^32);  T = 2^S − Σ_j z_j;
  π'_j = z_j + ⌊T / n⌋;  r = Σ_j |π'_j − π_j|;
* stop at the first iteration with r < ⌊ε·2^S⌋, or report not converged at the cap;
* commitment: the merkle root (``_commit.merkle_root``) of π itself (scale 2^60).

hi64(a·b) = ⌊a·b / 2^64⌋ of two uint64 (the high word of the 128-bit product). Every
sum is bounded by Σπ ≤ 2^60 (or 2^61 for the residual), so uint64 accumulators never
wrap. The helpers below are written against an array namespace ``xp`` so that numpy
and CuPy compute the same integers with the same code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from focusflow.kernels._commit import SCALE_BITS, merkle_root
from focusflow.kernels._csr import InLinkCSR
from focusflow.kernels._graph import GraphStore
from focusflow.kernels._result import ConvergenceError, FocusParams

Array = Any
MASS = 1 << SCALE_BITS  # Σπ of the exact iteration: π_i / 2^60 is the float value
DAMPING_BITS = 32
RECIPROCAL_NUMERATOR = (1 << 127) - 1
M32 = np.uint64(0xFFFFFFFF)
CHUNK_LINKS = 1 << 14  # CPU: links per chunk of the per-link product (stays in cache)


# -- integer primitives (numpy or CuPy) ------------------------------------------------------
def damping_int(damping: float) -> int:
    """δ = round(d·2^32): the damping as a 32-bit fraction (|δ/2^32 − d| ≤ 2^-33)."""
    delta = round(damping * (1 << DAMPING_BITS))
    assert 0 < delta < (1 << DAMPING_BITS)
    return delta


def eps_int(eps: float) -> int:
    """The stop threshold in π units: ⌊ε·2^60⌋ (at least 1)."""
    return max(1, int(eps * float(MASS)))


def mul64(xp: Any, a: Array, b: Array) -> tuple[Array, Array]:
    """(high, low) words of the exact 128-bit products a·b of uint64 arrays."""
    a, b = a.astype(xp.uint64, copy=False), b.astype(xp.uint64, copy=False)
    m, k = xp.uint64(0xFFFFFFFF), xp.uint64(32)
    al, ah, bl, bh = a & m, a >> k, b & m, b >> k
    ll, lh, hl, hh = al * bl, al * bh, ah * bl, ah * bh
    mid = (ll >> k) + (lh & m) + (hl & m)  # < 3·2^32: no wrap
    hi = hh + (lh >> k) + (hl >> k) + (mid >> k)
    lo = (mid << k) | (ll & m)
    return hi, lo


def mulhi(xp: Any, a: Array, b: Array) -> Array:
    """⌊a·b / 2^64⌋ for uint64 arrays (the one rounding rule of the exact iteration)."""
    return mul64(xp, a, b)[0]


def bit_length(xp: Any, u: Array) -> Array:
    """bitlen of each uint64 (0 for 0), exact: a float estimate corrected by one shift."""
    u = u.astype(xp.uint64, copy=False)
    _, e = xp.frexp(u.astype(xp.float64))
    e = xp.clip(e, 0, 64).astype(xp.int64)
    shift = xp.maximum(e - 1, 0).astype(xp.uint64)
    too_big = (e > 0) & ((u >> shift) == 0)  # the float rounded up to the next power of 2
    return e - too_big.astype(xp.int64)


def reciprocal(xp: Any, d: Array) -> Array:
    """R = ⌊(2^127 − 1) / d⌋ for uint64 d in [2^63, 2^64), exactly.

    A float64 estimate (off by at most ~2^13) is corrected from the exact 128-bit
    remainder until 0 ≤ N − R·d < d holds for every entry.
    """
    d = d.astype(xp.uint64, copy=False)
    if len(d) == 0:
        return d.copy()
    assert bool(xp.all(d >> xp.uint64(63) == 1)), "reciprocal needs d in [2^63, 2^64)"
    df = d.astype(xp.float64)
    r = xp.minimum(xp.floor(2.0**127 / df), 2.0**64 - 2048.0).astype(xp.uint64)
    n_hi, n_lo = xp.uint64((1 << 63) - 1), xp.uint64((1 << 64) - 1)
    for _ in range(8):
        p_hi, p_lo = mul64(xp, r, d)
        rem_lo = n_lo - p_lo
        rem_hi = (n_hi - p_hi - (p_lo > n_lo).astype(xp.uint64)).view(xp.int64)
        low_ok = (rem_hi == 0) & (rem_lo < d)
        if bool(xp.all(low_ok)):
            return r
        rem_f = rem_hi.astype(xp.float64) * 2.0**64 + rem_lo.astype(xp.float64)
        # step up cautiously (one less than the float quotient): R must never pass 2^64 − 1
        step = xp.floor(rem_f / df).astype(xp.int64)
        step = xp.where(rem_hi < 0, xp.minimum(step, -1), xp.maximum(step - 1, 1))
        step = xp.where(low_ok, 0, step)
        r = (r.view(xp.int64) + step).view(xp.uint64)
    raise AssertionError("reciprocal did not settle")  # pragma: no cover - bounded above


def damp(xp: Any, y: Array, delta: int) -> Array:
    """z = ⌊y·δ / 2^32⌋ for uint64 y < 2^62 and a 32-bit δ, without overflow."""
    k = xp.uint64(32)
    dl = xp.uint64(delta)
    return (y >> k) * dl + (((y & xp.uint64(0xFFFFFFFF)) * dl) >> k)


def abs_diff_sum(xp: Any, a: Array, b: Array) -> int:
    """Σ|a − b| of uint64 vectors (bounded by Σa + Σb ≤ 2^61)."""
    return int(xp.where(a > b, a - b, b - a).sum(dtype=xp.uint64))


# -- the per-source normalisation, shared by every backend ------------------------------------
@dataclass(frozen=True)
class SourceScale:
    """s_i (shift), R_i (reciprocal) per source, computed from the integer out-weights."""

    shift: Array  # uint64: 64 − bitlen(out_i), 0 for dangling
    recip: Array  # uint64: ⌊(2^127 − 1)/(out_i·2^s_i)⌋, 0 for dangling

    @classmethod
    def of(cls, xp: Any, out_w: Array) -> SourceScale:
        """From integer out-weights (int64, all < 2^62)."""
        out = out_w.astype(xp.uint64)
        live = out > 0
        shift = xp.where(live, 64 - bit_length(xp, out), 0).astype(xp.uint64)
        recip = xp.zeros(len(out), dtype=xp.uint64)
        if bool(xp.any(live)):
            recip[live] = reciprocal(xp, out[live] << shift[live])
        return cls(shift, recip)


def normalised_weights(xp: Any, w: Array, src: Array, shift: Array) -> Array:
    """W'_ij = W_ij·2^s_i as uint64 (W_ij ≤ out_i, so no overflow)."""
    return w.astype(xp.uint64) << shift[src]


def source_values(xp: Any, pi: Array, recip: Array) -> Array:
    """x_i = hi64(2π_i · R_i) (0 for dangling sources, whose R_i is 0)."""
    return mulhi(xp, pi << xp.uint64(1), recip)


def teleport_share(total_z: int, n: int) -> int:
    """⌊(2^60 − Σz) / n⌋: what every particle receives (dangling mass, 1 − d, rounding)."""
    assert 0 <= total_z <= MASS and n > 0
    return (MASS - total_z) // n


def uniform_start(n: int) -> np.ndarray:
    """The cold start: ⌊2^60/n⌋ everywhere."""
    return np.full(n, MASS // n if n else 0, dtype=np.uint64)


def padded_start(previous: np.ndarray, n: int) -> np.ndarray:
    """Warm start: the previous π, new particles sharing what is left of 2^60 equally."""
    prev = np.asarray(previous, dtype=np.uint64)[:n]
    left = MASS - int(prev.sum(dtype=np.uint64))
    assert left >= 0, "a start vector must sum to at most 2^60"
    new = n - len(prev)
    fill = left // new if new else 0
    return np.concatenate([prev, np.full(new, fill, dtype=np.uint64)])


# -- results and the shared loop ------------------------------------------------------------
@dataclass(frozen=True)
class ExactResult:
    """The exact π (uint64 at scale 2^60) and how it was reached."""

    q: np.ndarray
    converged: bool
    iterations: int
    residuals: tuple[int, ...]
    backend: str
    eps: int

    @property
    def residual(self) -> int:
        """r of the last iteration (π units, 2^-60)."""
        return self.residuals[-1] if self.residuals else 0

    @property
    def pi(self) -> np.ndarray:
        """π as float64 (q / 2^60)."""
        return self.q.astype(np.float64) / float(MASS)

    @cached_property
    def root(self) -> bytes:
        """The commitment: merkle root of q (``_commit.merkle_root``, scale 2^60)."""
        return merkle_root(self.q)

    def require_converged(self) -> ExactResult:
        """Self if converged; raises ConvergenceError otherwise."""
        if not self.converged:
            raise ConvergenceError(f"{self.backend} exact solve did not converge: r = "
                                   f"{self.residual} ≥ {self.eps} after {self.iterations}")
        return self


def check_store(store: Any, params: FocusParams) -> None:
    """Exact solvers need an integer store and the uniform teleport (ValueError otherwise)."""
    if not getattr(store.csr, "exact", False):
        raise ValueError("exact focus needs an exact store (GraphStore(..., exact=True))")
    if params.teleport is not None:
        raise ValueError("exact focus supports the uniform teleport only")


class ExactSolver(ABC):
    """The exact iteration on one backend; the loop and the stop rule are written once.

    A backend loads the graph (:meth:`_load`), the start vector (:meth:`_set_pi`), runs
    up to ``count`` iterations that stop by themselves at r < ε (:meth:`_run`, returning
    the residuals of the iterations it ran) and reads π back (:meth:`_read_pi`).
    """

    backend = "?"

    def __init__(self, store: GraphStore, params: FocusParams | None = None) -> None:
        self.store = store
        self.params = params or FocusParams()
        check_store(store, self.params)
        self.delta = damping_int(self.params.damping)
        self.eps = eps_int(self.params.eps)
        self._last: np.ndarray | None = None
        self.applied = 0  # edges changed by deltas seen so far (statistics)

    def apply(self, delta: Any) -> None:
        """The store applied ``delta``; backends with a resident copy follow it here."""
        self.applied += len(delta)

    @abstractmethod
    def _load(self) -> None:
        """Bring the backend's copy of the graph and the per-source scales up to date."""

    @abstractmethod
    def _set_pi(self, q: np.ndarray) -> None:
        """Load a start vector (uint64, Σ ≤ 2^60)."""

    @abstractmethod
    def _run(self, count: int) -> list[int]:
        """Run up to ``count`` iterations, stopping after the first with r < ε."""

    @abstractmethod
    def _read_pi(self) -> np.ndarray:
        """π of the last iteration run, uint64, external numbering."""

    def start_vector(self, *, warm: bool) -> np.ndarray:
        """Previous π padded (warm) or ⌊2^60/n⌋ everywhere (cold)."""
        if warm and self._last is not None:
            return padded_start(self._last, self.store.n)
        return uniform_start(self.store.n)

    def solve(self, *, warm: bool = False, start: np.ndarray | None = None,
              iterations_max: int | None = None) -> ExactResult:
        """Iterate from ``start`` (default: cold, or the previous π when ``warm``).

        The result is a function of the graph's integers and the start vector only.
        Raises ValueError for a start vector of the wrong length or a sum above 2^60.
        """
        n = self.store.n
        cap = self.params.iterations_max if iterations_max is None else iterations_max
        if n == 0:
            return ExactResult(np.zeros(0, np.uint64), True, 0, (), self.backend, self.eps)
        q0 = self.start_vector(warm=warm) if start is None else np.asarray(start, np.uint64)
        if len(q0) != n or int(q0.sum(dtype=np.uint64)) > MASS or (
                len(q0) and int(q0.max()) >= MASS + 1):
            raise ValueError("a start vector needs n entries summing to at most 2^60")
        self._load()
        self._set_pi(q0)
        residuals: list[int] = []
        group = 4
        while len(residuals) < cap:
            got = self._run(min(group, cap - len(residuals)))
            residuals.extend(got)
            if got and got[-1] < self.eps:
                break
            group = min(group * 2, 32)
        q = self._read_pi()
        self._last = q
        converged = bool(residuals) and residuals[-1] < self.eps
        return ExactResult(q, converged, len(residuals), tuple(residuals), self.backend,
                           self.eps)


# -- CPU ------------------------------------------------------------------------------------
class ExactCpuSolver(ExactSolver):
    """numpy: the per-link products in cache-sized chunks, row sums by ``add.reduceat``."""

    backend = "cpu"

    def _load(self) -> None:
        csr: InLinkCSR = self.store.csr
        sc = SourceScale.of(np, csr.out_w)
        self._recip = sc.recip
        src = csr.indices.astype(np.int64)
        wn = normalised_weights(np, csr.data, src, sc.shift)
        self._src = csr.indices
        self._wh, self._wl = wn >> np.uint64(32), wn & M32
        deg = np.diff(csr.indptr)
        self._rows = np.flatnonzero(deg > 0)
        self._starts = csr.indptr[:-1][self._rows]
        d_dst, d_src, d_w = csr.delta_coo()
        self._d = (d_dst, d_src, normalised_weights(np, d_w, d_src, sc.shift))
        self._c = np.empty(len(src), dtype=np.uint64)

    def _set_pi(self, q: np.ndarray) -> None:
        self._pi = q.astype(np.uint64, copy=True)

    def _gather(self, x: np.ndarray) -> np.ndarray:
        """y_j = Σ hi64(W'_ij · x_i): per-link products into ``_c``, then row sums."""
        c, n = self._c, len(self._pi)
        k = np.uint64(32)
        size = min(CHUNK_LINKS, len(c))
        g, gl, t, lh = (np.empty(size, np.uint64) for _ in range(4))
        for a in range(0, len(c), CHUNK_LINKS):
            b = min(a + CHUNK_LINKS, len(c))
            if b - a < size:
                g, gl, t, lh = g[:b - a], gl[:b - a], t[:b - a], lh[:b - a]
            # hi64(w·g) from four 32×32 products with the carries folded in early:
            # t = hl + hi32(ll) and t2 = lh + lo32(t) cannot wrap (g < 2^61)
            np.take(x, self._src[a:b], out=g)
            np.bitwise_and(g, M32, out=gl)
            g >>= k  # gh < 2^29
            wl, wh = self._wl[a:b], self._wh[a:b]
            np.multiply(wl, gl, out=t)
            t >>= k
            gl *= wh  # hl
            t += gl  # t = hl + hi32(ll)
            np.multiply(wl, g, out=lh)
            g *= wh  # hh
            np.bitwise_and(t, M32, out=gl)
            lh += gl  # t2 = lh + lo32(t)
            t >>= k
            lh >>= k
            g += t
            np.add(g, lh, out=c[a:b])
        y = np.zeros(n, dtype=np.uint64)
        if len(self._rows):
            y[self._rows] = np.add.reduceat(c, self._starts)
        d_dst, d_src, d_wn = self._d
        if len(d_dst):
            np.add.at(y, d_dst, mulhi(np, d_wn, x[d_src]))
        return y

    def _run(self, count: int) -> list[int]:
        out = []
        n = len(self._pi)
        for _ in range(count):
            x = source_values(np, self._pi, self._recip)
            z = damp(np, self._gather(x), self.delta)
            t = teleport_share(int(z.sum(dtype=np.uint64)), n)
            z += np.uint64(t)
            r = abs_diff_sum(np, z, self._pi)
            self._pi = z
            out.append(r)
            if r < self.eps:
                break
        return out

    def _read_pi(self) -> np.ndarray:
        return self._pi.copy()


def exact_reference(store: GraphStore, params: FocusParams | None = None, *,
                    start: np.ndarray | None = None, iterations_max: int = 1000
                    ) -> tuple[list[int], int, bool]:
    """The definition with Python integers, one link at a time (tests, small graphs only).

    Returns (π, iterations, converged). Slow on purpose: it is the spec, not a path.
    """
    params = params or FocusParams()
    csr = store.csr
    n = csr.n
    delta, eps = damping_int(params.damping), eps_int(params.eps)
    out = [int(v) for v in csr.out_w]
    shift = [64 - o.bit_length() if o else 0 for o in out]
    recip = [RECIPROCAL_NUMERATOR // (o << s) if o else 0 for o, s in zip(out, shift, strict=True)]
    links: list[tuple[int, int, int]] = []  # (dst, src, W')
    for seg_keys, seg_w in ((csr.keys, csr.data), (csr.d_keys, csr.d_data)):
        for key, w in zip(seg_keys.tolist(), seg_w.tolist(), strict=True):
            dst, src = key >> 32, key & 0xFFFFFFFF
            links.append((dst, src, int(w) << shift[src]))
    pi = [int(v) for v in (uniform_start(n) if start is None else start)]
    for it in range(1, iterations_max + 1):
        x = [(2 * p * r) >> 64 for p, r in zip(pi, recip, strict=True)]
        y = [0] * n
        for dst, src, wn in links:
            y[dst] += (wn * x[src]) >> 64
        z = [(v * delta) >> 32 for v in y]
        t = (MASS - sum(z)) // n
        new = [v + t for v in z]
        r = sum(abs(a - b) for a, b in zip(new, pi, strict=True))
        pi = new
        if r < eps:
            return pi, it, True
    return pi, iterations_max, False
