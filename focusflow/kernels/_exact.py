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
from collections.abc import Callable
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
CHUNK_LINKS = 1 << 17  # CPU: links per chunk of the per-link products; measured on the
# 2-core dev box (R-MAT 2^17 and 2^18): 2^17–2^18 beat 2^14 by 25–30% (a chunk costs ~10 µs
# of numpy calls) and 2^21 by 20% (the chunk's buffers fall out of the caches)


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
FAST_WEIGHT_LIMIT = 1 << 32  # a link with W_ij below this takes the 2-product path


@dataclass(frozen=True)
class _LinkSegment:
    """A subset of the base links, kept in CSR order, with its own row segments.

    Why: the exact sums are order-free integer sums, so the links can be split into
    classes that use different (equally exact) product formulas and be summed separately.
    ``rows`` are the destinations with at least one link in the segment; ``cuts[k]`` and
    ``local[cuts[k]:cuts[k+1]]`` say which rows end in chunk k (links k·CHUNK_LINKS …)
    and at which offset in it, so that row sums come from a running sum over the chunks.
    """

    src: np.ndarray  # int64 sources
    a: np.ndarray  # fast: W'' = W·2^(32−min(b_i, 32)) (uint64, < 2^32); general: hi32(W')
    b: np.ndarray | None  # fast: per-link shift b_i − c_i (None when all 0); general: lo32(W')
    rows: np.ndarray
    cuts: np.ndarray  # int64, one per chunk + 1
    local: np.ndarray  # int64: offset of each row's last link within its chunk

    @classmethod
    def of(cls, keep: np.ndarray, row_of: np.ndarray, src: np.ndarray, a: np.ndarray,
           b: np.ndarray | None) -> _LinkSegment:
        """The links selected by the boolean mask ``keep`` (CSR order preserved)."""
        rows = row_of[keep]
        last = np.ones(len(rows), dtype=bool)
        last[:-1] = rows[1:] != rows[:-1]
        ends = np.flatnonzero(last)  # index of each row's last link
        bounds = np.arange(0, len(rows) + CHUNK_LINKS, CHUNK_LINKS)
        cuts = np.searchsorted(ends, bounds[:max(1, -(-len(rows) // CHUNK_LINKS) + 1)])
        local = ends % CHUNK_LINKS
        return cls(src[keep], a[keep], None if b is None else b[keep], rows[ends], cuts, local)

    def __len__(self) -> int:
        return len(self.src)

    def chunks(self) -> range:
        """Start offsets of the chunks of CHUNK_LINKS links."""
        return range(0, len(self), CHUNK_LINKS)

    def row_sums(self, chunk_terms: Callable[[int, int], np.ndarray]) -> np.ndarray:
        """Σ over each row's links of ``chunk_terms(a, b)`` (a buffer, links a … b − 1).

        A running sum within each chunk while it is in cache (``cumsum``), carried from
        chunk to chunk and read at the row ends, instead of ``add.reduceat`` over a full
        term array (which pays a call per row — most R-MAT rows hold a few links — and a
        write and a read of 8 bytes per link). uint64 running sums wrap, but the
        difference of two of them is the row sum mod 2^64, and every row sum is below
        2^61 (Σ_j y_j ≤ Σ_i x_i < 2^61): the result is exact.
        """
        at_ends = np.empty(len(self.rows), np.uint64)
        carry = np.zeros(1, np.uint64)
        for k, a in enumerate(self.chunks()):
            g = chunk_terms(a, min(a + CHUNK_LINKS, len(self)))
            g[:1] += carry  # array ops: uint64 wraps silently (scalar ops would warn)
            np.cumsum(g, out=g)
            carry[0] = g[-1]
            lo, hi = self.cuts[k], self.cuts[k + 1]
            np.take(g, self.local[lo:hi], out=at_ends[lo:hi])
        return np.diff(at_ends, prepend=np.uint64(0))


class ExactCpuSolver(ExactSolver):
    """numpy: the per-link products in cache-sized chunks, exact row sums by running sums.

    Two product formulas, both equal to hi64(W'_ij · x_i) for every input the definition
    allows (proofs at :meth:`_fast_sums` and :meth:`_general_sums`):

    * *fast* links (W_ij < 2^32, the usual case for edge weights): two 64-bit products,
      one gather and six arithmetic passes per link;
    * *general* links (W_ij ≥ 2^32, e.g. cyberlink shares of large stakes): the 128-bit
      product from four 32×32 partial products, one gather and 14 passes per link.

    Every per-iteration array lives in a buffer allocated once per solve (``_load``).
    ``fast=False`` sends every link through the general formula (the path before the
    fast formula; kept for the benchmark's baseline and as the tests' second opinion).
    """

    backend = "cpu"

    def __init__(self, store: GraphStore, params: FocusParams | None = None, *,
                 fast: bool = True) -> None:
        super().__init__(store, params)
        self.fast = fast
        self._scale: tuple[np.ndarray, SourceScale] | None = None  # (out_w it was made of)

    def _source_scale(self, out_w: np.ndarray) -> SourceScale:
        """``SourceScale.of(out_w)``, recomputed only for the sources whose out-weight
        changed since the last solve (s_i and R_i are functions of out_i alone).

        Why: the exact reciprocals are the costliest part of a solve's set-up (~25 ms for
        131k sources), and a block changes the out-weights of a few sources only.
        """
        if self._scale is not None and len(self._scale[0]) <= len(out_w):
            prev, sc = self._scale
            grown = len(out_w) - len(prev)
            changed = np.flatnonzero(out_w[:len(prev)] != prev)
            if grown:
                changed = np.concatenate([changed, np.arange(len(prev), len(out_w))])
                zeros = np.zeros(grown, np.uint64)
                sc = SourceScale(np.concatenate([sc.shift, zeros]), np.concatenate([sc.recip, zeros]))
            else:
                sc = SourceScale(sc.shift.copy(), sc.recip.copy())
            if len(changed):
                part = SourceScale.of(np, out_w[changed])
                sc.shift[changed], sc.recip[changed] = part.shift, part.recip
        else:
            sc = SourceScale.of(np, out_w)
        self._scale = (out_w.copy(), sc)
        return sc

    def _load(self) -> None:
        csr: InLinkCSR = self.store.csr
        n = csr.n
        sc = self._source_scale(csr.out_w)
        self._rh, self._rl = sc.recip >> np.uint64(32), sc.recip & M32
        src = csr.indices.astype(np.int64, copy=False)
        w = csr.data.view(np.uint64)  # int64 ≥ 0: the same integers (read only here)
        # b_i = bitlen(out_i) = 64 − s_i (0 for dangling), so hi64(W'·x) = ⌊W·x / 2^b_i⌋
        bits = np.where(sc.recip > 0, np.uint64(64) - sc.shift, np.uint64(0))
        cut = np.minimum(bits, np.uint64(32))  # c_i = min(b_i, 32)
        row_of = np.repeat(np.arange(n, dtype=np.int64), np.diff(csr.indptr))
        fast = (w < np.uint64(FAST_WEIGHT_LIMIT)) if self.fast else np.zeros(len(w), bool)
        # the fast proof's bound: W_ij ≤ out_i < 2^b_i (integer weights are non-negative)
        assert not len(w) or bool(np.all(w < (np.uint64(1) << bits[src])))
        w32 = w << (np.uint64(32) - cut)[src]  # W'' = W·2^(32−c) < 2^32 on fast links
        e = (bits - cut)[src]  # b − c: 0 unless out_i ≥ 2^32
        e_any = bool(np.any(e[fast])) if len(e) else False
        slow = ~fast
        wn = np.zeros(len(w), np.uint64)  # W' only where the general path needs it
        wn[slow] = normalised_weights(np, csr.data[slow], src[slow], sc.shift)
        d_dst, d_src, d_w = csr.delta_coo()
        self._d = (d_dst, d_src, normalised_weights(np, d_w, d_src, sc.shift))
        # hubs-first numbering of the sources (x is computed in it): the random gathers
        # x[src] of the many links of high out-degree sources then share cache lines, and
        # the sources that link at all form a prefix: x is computed for those only
        links_out = np.bincount(src, minlength=n) + np.bincount(d_src, minlength=n)
        order = np.argsort(-links_out, kind="stable")
        new_id = np.empty(n, np.int64)
        new_id[order] = np.arange(n)
        self._order = order[:int(np.count_nonzero(links_out))]
        self._rh, self._rl = self._rh[self._order], self._rl[self._order]
        src = new_id[src]
        self._d = (d_dst, new_id[d_src], self._d[2])
        self._fast = _LinkSegment.of(fast, row_of, src, w32, e if e_any else None)
        self._general = _LinkSegment.of(slow, row_of, src, wn >> np.uint64(32), wn & M32)
        size = min(CHUNK_LINKS, max(len(self._fast), len(self._general), 1))
        self._buf = [np.empty(size, np.uint64) for _ in range(4)]
        self._nbuf = [np.empty(n, np.uint64) for _ in range(5)]
        self._pong = (np.empty(n, np.uint64), np.empty(n, np.uint64))
        self._compact = not len(self._general) and not len(d_dst)

    def _set_pi(self, q: np.ndarray) -> None:
        self._pi = q.astype(np.uint64, copy=True)
        self._pi_sum = int(self._pi.sum(dtype=np.uint64))

    def _source_values(self) -> np.ndarray:
        """x_i = hi64(2π_i · R_i) into a buffer (as ``source_values``, no allocation),
        indexed by the hubs-first source numbering of ``_load``, for linking sources only.

        With p = 2π < 2^61 split as ph·2^32 + pl (ph < 2^29) and R = rh·2^32 + rl:
        t = ph·rl + hi32(pl·rl) < 2^61 + 2^32 and pl·rh + lo32(t) < 2^64 cannot wrap,
        and hi64(p·R) = ph·rh + hi32(t) + hi32(pl·rh + lo32(t)).
        """
        a, b, c, d = (v[:len(self._order)] for v in self._nbuf[:4])
        k = np.uint64(32)
        np.take(self._pi, self._order, out=a, mode="wrap")  # π in the sources' numbering
        a <<= np.uint64(1)
        np.bitwise_and(a, M32, out=b)  # pl
        a >>= k  # ph
        np.multiply(b, self._rl, out=c)
        c >>= k  # hi32(pl·rl)
        np.multiply(a, self._rl, out=d)
        d += c  # t
        b *= self._rh  # pl·rh
        np.bitwise_and(d, M32, out=c)
        b += c
        b >>= k
        d >>= k
        a *= self._rh
        a += d
        a += b
        return a

    def _fast_sums(self, x: np.ndarray) -> np.ndarray:
        """Row sums of hi64(W'·x) over the fast links, with two 64-bit products per link.

        Exactness. W' = W·2^s_i and b_i = 64 − s_i, so hi64(W'·x) = ⌊W·x / 2^b⌋, with
        W ≤ out_i < 2^b, W < 2^32 (the class) and x < 2^61 (x = hi64(2q·R) < 2q ≤ 2^61).
        Let c = min(b, 32) and W'' = W·2^(32−c), stored per link: W'' < 2^32 (b ≤ 32:
        W < 2^b = 2^c; b > 32: W < 2^32 and W'' = W); for b ≤ 32, W'' is simply W'/2^32.
        Then W·x/2^c = W''·x/2^32 and, with x = xh·2^32 + xl (xl < 2^32),
        ⌊W''·x/2^32⌋ = W''·xh + ⌊W''·xl/2^32⌋; nested floors of divisions by powers of
        two compose, so ⌊W·x/2^b⌋ = ⌊W''·x/2^32⌋ >> (b − c). No wrap: W''·xl < 2^64 and
        W''·xh + ⌊W''·xl/2^32⌋ ≤ W''·x/2^32 < 2^61. The shift b − c is 0 for every source
        with out_i < 2^32, so it is skipped when no fast link needs it. Per link: one
        gather, two products, three shifts and two adds (the general path: 15 passes).
        """
        seg = self._fast

        def chunk(a: int, b: int) -> np.ndarray:
            g, t = self._buf[0][:b - a], self._buf[1][:b - a]
            w = seg.a[a:b]
            # mode "wrap": indices are in range; the default "raise" buffers a copy of out
            np.take(x, seg.src[a:b], out=g, mode="wrap")
            _mul_split_in_place(g, w, t)
            if seg.b is not None:
                g >>= seg.b[a:b]
            return g

        return seg.row_sums(chunk)

    def _general_sums(self, x: np.ndarray) -> np.ndarray:
        """Row sums of hi64(W'·x) over the general links (any W' < 2^64, x < 2^61)."""
        seg = self._general
        k = np.uint64(32)

        def chunk(a: int, b: int) -> np.ndarray:
            g, gl, t, lh = (v[:b - a] for v in self._buf)
            # hi64(w·g) from four 32×32 products with the carries folded in early:
            # t = hl + hi32(ll) and t2 = lh + lo32(t) cannot wrap (g < 2^61)
            np.take(x, seg.src[a:b], out=g, mode="wrap")
            np.bitwise_and(g, M32, out=gl)
            g >>= k  # gh < 2^29
            wl, wh = seg.b[a:b], seg.a[a:b]  # type: ignore[index]
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
            g += lh
            return g

        return seg.row_sums(chunk)

    def _gather(self, x: np.ndarray) -> np.ndarray:
        """y_j = Σ hi64(W'_ij · x_i): per-class products, then exact row sums."""
        y = self._nbuf[3]
        y.fill(0)
        only = not len(self._general)  # then each row appears once: assign, no read
        for seg, sums in ((self._fast, self._fast_sums), (self._general, self._general_sums)):
            if len(seg) and only:
                y[seg.rows] = sums(x)
            elif len(seg):
                # integer sums below 2^61: the split into classes cannot change them
                y[seg.rows] += sums(x)
        d_dst, d_src, d_wn = self._d
        if len(d_dst):
            np.add.at(y, d_dst, mulhi(np, d_wn, x[d_src]))
        return y

    def _damp(self, y: np.ndarray, t: np.ndarray) -> None:
        """y ← ⌊y·δ/2^32⌋ = hi32(y)·δ + hi32(lo32(y)·δ) in place (as ``damp``; t: scratch)."""
        _mul_split_in_place(y, np.uint64(self.delta), t[:len(y)])

    def _run(self, count: int) -> list[int]:
        out = []
        n = len(self._pi)
        t = self._nbuf[4]
        for _ in range(count):
            x = self._source_values()
            # ping-pong: a fresh 1–2 MiB array per iteration would fault its pages in anew
            z = self._pong[1] if self._pi is self._pong[0] else self._pong[0]
            if self._compact:  # damp the rows with in-links only (about half on R-MAT)
                y = self._fast_sums(x)
                self._damp(y, self._nbuf[4][:len(y)])
                z.fill(0)
                z[self._fast.rows] = y
                total = int(y.sum(dtype=np.uint64))
            else:
                z[:] = self._gather(x)
                self._damp(z, t)
                total = int(z.sum(dtype=np.uint64))
            tele = teleport_share(total, n)
            z += np.uint64(tele)
            z_sum = total + n * tele
            # r = Σ|z − π| = 2·Σmax(z, π) − Σz − Σπ (every sum ≤ 2^61: no wrap)
            np.maximum(z, self._pi, out=t)
            r = 2 * int(t.sum(dtype=np.uint64)) - z_sum - self._pi_sum
            self._pi, self._pi_sum = z, z_sum
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


def _mul_split_in_place(v: np.ndarray, w: np.ndarray | np.uint64, t: np.ndarray) -> None:
    """v ← hi32(v)·w + hi32(lo32(v)·w) in place (t: scratch of v's length): ⌊v·w/2^32⌋
    for w < 2^32 without a 128-bit product (the per-link fast path and the damping)."""
    k = np.uint64(32)
    np.bitwise_and(v, M32, out=t)
    t *= w
    t >>= k
    v >>= k
    v *= w
    v += t
