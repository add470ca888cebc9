"""The live validator's π time per block at ~10^6 stored links: exact incremental vs the
canonical float rebuild it replaced (issue 17 item 3), side by side in one run.

* **exact** — ``focusflow.node.focus.FocusState`` as the chain runs it now: the exact
  store stays resident, a block's link deltas and stake changes are applied to it
  incrementally, and the integer iteration warm-starts from the committed π.
* **baseline** — ``BaselineFloatFocusState`` below: a copy of ``FocusState`` as it was on
  main before this change (commit 9e7c772), kept *only here* to time it: every block it
  rebuilds the whole graph in canonical float order (O(L) bincount + ``from_edges`` sort),
  solves float64 from the quantised committed π, then runs the one-iteration verifier.

Both get the same chain: a bulk block of ``--links`` cyberlinks (power-law particles,
``--neurons`` neurons, log-normal balances), then ``--blocks`` blocks of ``--per-block``
new links from a few neurons plus a few balance changes (what a busy block carries).
Reported: ms per block (median and max) of ``FocusState.apply`` for each, and the
iterations. The exact path is also checked against a restart from its durable pieces at
the last block (same root).

    python benchmarks/bench_focus_chain.py --links 1000000 --blocks 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from focusflow.actors.state.core import LinkDeltas
from focusflow.actors.state.ids import cid_of
from focusflow.kernels import (
    Commitment,
    CpuSolver,
    FocusParams,
    GraphStore,
    dequantize,
    merkle_root,
    verify,
)
from focusflow.node.focus import FocusState

STAKE_FLOOR = 1
EDGE_KEY_SHIFT = 32
ADDRESS_BYTES = 20
CANON_KEY_BYTES = 8 + ADDRESS_BYTES
EMPTY_ROOT = Commitment.of(np.zeros(0)).root
PARTICLES_MAX = 1 << 24
LINKS_MAX = 1 << 26


# ============================================================================================
# BASELINE: node/focus.py FocusState from main @ 9e7c772 (the canonical float rebuild),
# copied verbatim but for the name and the trimmed FocusBlock; used by this benchmark only.
# ============================================================================================
@dataclass(frozen=True, slots=True)
class _BaselineBlock:
    height: int
    root: bytes
    iterations: int
    converged: bool
    residual: float
    verified: bool


class BaselineFloatFocusState:
    """The committed graph and π of one validator (see the module docstring)."""

    def __init__(self, params: FocusParams | None = None) -> None:
        self.params = params or FocusParams()
        self.height = 0
        self.cids: list[bytes] = []
        self.particles: dict[bytes, int] = {}
        self.addresses: list[bytes] = []
        self.neurons: dict[bytes, int] = {}
        self.stakes: list[int] = []  # by neuron index: balance (without the floor)
        self.link_counts: list[int] = []  # by neuron index: live links
        # Live links, kept sorted by the canonical key: edge key (dst << 32 | src, 8 bytes
        # big-endian) then neuron address (20 bytes), as one 28-byte string per link, so
        # that a block merges its links in (O(L) moves) instead of sorting them all again.
        self._ck = np.zeros(0, f"S{CANON_KEY_BYTES}")
        self._ek = np.zeros(0, np.uint64)  # edge key of each link, same order
        self._ln = np.zeros(0, np.int64)  # neuron index of each link, same order
        self.q = np.zeros(0, np.uint64)
        self.root = EMPTY_ROOT

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        """Particles numbered so far (never shrinks: the committed vector only grows)."""
        return len(self.cids)

    @property
    def links(self) -> int:
        """Live links."""
        return len(self._ck)

    def inbound(self) -> np.ndarray:
        """Live in-links per particle."""
        dst = (self._ek >> np.uint64(EDGE_KEY_SHIFT)).astype(np.int64)
        return np.bincount(dst, minlength=self.n)

    def link_rows(self) -> list[tuple[bytes, int, int]]:
        """(neuron address, src id, dst id) of every live link, in canonical order."""
        mask = np.uint64((1 << EDGE_KEY_SHIFT) - 1)
        src = (self._ek & mask).astype(np.int64)
        dst = (self._ek >> np.uint64(EDGE_KEY_SHIFT)).astype(np.int64)
        return [(self.addresses[u], int(a), int(b))
                for u, a, b in zip(self._ln.tolist(), src.tolist(), dst.tolist(), strict=True)]

    def invariants(self) -> None:
        """The link arrays are strictly sorted, aligned, and agree with the counts."""
        assert len(self._ck) == len(self._ek) == len(self._ln)
        assert len(self._ck) < 2 or bool(np.all(self._ck[1:] > self._ck[:-1]))
        counts = np.bincount(self._ln, minlength=len(self.addresses))
        assert counts.tolist() == self.link_counts

    def top(self, count: int) -> list[tuple[bytes, int, int]]:
        """(cid, committed fixed-point π, in-links) of the ``count`` highest, ties by id."""
        if self.n == 0 or count <= 0:
            return []
        order = np.lexsort((np.arange(self.n), -self.q.astype(np.float64)))[:count]
        inbound = self.inbound()
        return [(self.cids[i], int(self.q[i]), int(inbound[i])) for i in order]

    # ------------------------------------------------------------------ blocks
    def apply(self, height: int, deltas: LinkDeltas, balances: Mapping[bytes, int]) -> _BaselineBlock:
        """Fold block ``height``'s link deltas and written balances in; commit π.

        ``balances`` holds every ``/token`` balance the block wrote (address -> value):
        the state core writes the sender's balance with every applied tx, so a neuron in
        the deltas always appears there.

        Raises:
            AssertionError: out of order, an insert of an existing link or a removal of an
                absent one (the state core refuses both: a local bug).
        """
        assert height == self.height + 1, (height, self.height)
        first_new = self.n
        src = self._particle_ids(deltas.src)
        dst = self._particle_ids(deltas.dst)
        moved = len(deltas) > 0
        for address, balance in sorted(balances.items()):
            index = self.neurons.get(address)
            if index is not None and self.stakes[index] != balance:
                self.stakes[index] = balance
                # Only a linking neuron's stake is in the graph; a restarted validator
                # does not even know neurons without links.
                moved = moved or self.link_counts[index] > 0
        if len(deltas):
            neurons = np.fromiter((self._neuron(a, balances) for a in _addresses(deltas.neuron)),
                                  np.int64, len(deltas))
            self._merge(neurons, src, dst, deltas.sign)
        self.height = height
        new = tuple(self.cids[first_new:])
        if not moved:
            return self._block(new, iterations=0, converged=True)
        return self._solve(new)

    @classmethod
    def restore(cls, *, height: int, cids: Iterable[bytes],
                links: Iterable[tuple[bytes, bytes, bytes]], balances: Mapping[bytes, int],
                q: np.ndarray, params: FocusParams | None = None) -> BaselineFloatFocusState:
        """Rebuild from durable state: particle numbering, (neuron, from, to) links, the
        balances of their neurons and the π committed at ``height``.

        Raises:
            ValueError: the pieces do not fit together (a link to an unnumbered particle,
                a π of another length): the store is not the one that committed them.
        """
        st = cls(params)
        st.height = height
        for cid in cids:
            st.particles[cid] = len(st.cids)
            st.cids.append(cid)
        q = np.asarray(q, np.uint64)
        if len(q) != st.n:
            raise ValueError(f"committed π has {len(q)} values for {st.n} particles")
        rows = [(st._neuron(neuron, balances), st.particles.get(s, -1), st.particles.get(d, -1))
                for neuron, s, d in links]
        if any(s < 0 or d < 0 for _, s, d in rows):
            raise ValueError("a stored link names a particle the focus table lacks")
        if rows:
            u, a, b = (np.array(col, np.int64) for col in zip(*rows, strict=True))
            st._merge(u, a, b, np.ones(len(rows), np.int8))
        st.q = q.copy()
        st.root = merkle_root(st.q)
        return st

    # ------------------------------------------------------------------ internals
    def _particle_ids(self, cids: np.ndarray) -> np.ndarray:
        out = np.empty(cids.shape[0], np.int64)
        for i, row in enumerate(cids):
            cid = row.tobytes()
            pid = self.particles.get(cid)
            if pid is None:
                pid = self.particles[cid] = len(self.cids)
                self.cids.append(cid)
            out[i] = pid
        assert self.n <= PARTICLES_MAX, f"{self.n} particles > PARTICLES_MAX"
        return out

    def _neuron(self, address: bytes, balances: Mapping[bytes, int]) -> int:
        index = self.neurons.get(address)
        if index is None:
            index = self.neurons[address] = len(self.addresses)
            self.addresses.append(address)
            self.stakes.append(int(balances.get(address, 0)))
            self.link_counts.append(0)
        return index

    def _canon(self, neurons: np.ndarray, src: np.ndarray,
               dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(canonical 28-byte keys, edge keys) of links given as index arrays."""
        ek = (dst.astype(np.uint64) << np.uint64(EDGE_KEY_SHIFT)) | src.astype(np.uint64)
        names = np.frombuffer(b"".join(self.addresses), np.uint8).reshape(-1, ADDRESS_BYTES)
        raw = np.concatenate([ek.astype(">u8").view(np.uint8).reshape(-1, 8), names[neurons]],
                             axis=1)
        return np.ascontiguousarray(raw).view(f"S{CANON_KEY_BYTES}").reshape(-1), ek

    def _merge(self, neurons: np.ndarray, src: np.ndarray, dst: np.ndarray,
               sign: np.ndarray) -> None:
        """Apply link (+1) and unlink (−1) rows in order, keeping the arrays sorted.

        Rows on one link alternate (the state core refuses a duplicate link and an unlink
        of an absent one), so the net effect is the last row's sign against whether the
        link was live before the block.
        """
        keys, ek = self._canon(neurons, src, dst)
        uniq, first = np.unique(keys, return_index=True)
        last = len(keys) - 1 - np.unique(keys[::-1], return_index=True)[1]
        pos = np.searchsorted(self._ck, uniq)
        live = np.zeros(len(uniq), bool)
        if len(self._ck):
            live = (pos < len(self._ck)) & (self._ck[np.minimum(pos, len(self._ck) - 1)] == uniq)
        assert np.array_equal(sign[first] > 0, ~live), \
            "a link made twice or an unlink of an absent link (the state core refuses both)"
        want = sign[last] > 0
        add, gone = want & ~live, ~want & live
        assert len(self._ck) + int(add.sum()) <= LINKS_MAX, "LINKS_MAX reached"
        counts = np.zeros(len(self.addresses), np.int64)
        np.add.at(counts, neurons[last[add]], 1)
        np.add.at(counts, neurons[last[gone]], -1)
        if gone.any():
            keep = np.ones(len(self._ck), bool)
            keep[pos[gone]] = False
            self._ck, self._ek, self._ln = self._ck[keep], self._ek[keep], self._ln[keep]
        if add.any():
            at = np.searchsorted(self._ck, uniq[add])  # uniq is sorted: so are the inserts
            self._ck = np.insert(self._ck, at, uniq[add])
            self._ek = np.insert(self._ek, at, ek[last[add]])
            self._ln = np.insert(self._ln, at, neurons[last[add]])
        for u in np.flatnonzero(counts):
            self.link_counts[u] += int(counts[u])
            assert self.link_counts[u] >= 0, "an unlink of a link that was never made"

    def _canonical_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(src, dst, W) of every edge, W summed over its links in canonical order."""
        counts = np.asarray(self.link_counts, dtype=np.int64)
        stake = np.asarray(self.stakes, dtype=np.float64) + float(STAKE_FLOOR)
        share = np.divide(stake, counts, out=np.zeros(len(stake)), where=counts > 0)
        keys, w = self._ek, share[self._ln]  # already in canonical order
        start = np.ones(len(keys), bool)
        start[1:] = keys[1:] != keys[:-1]
        weight = np.bincount(np.cumsum(start) - 1, weights=w) if len(keys) else np.zeros(0)
        edges = keys[start]
        mask = np.uint64((1 << EDGE_KEY_SHIFT) - 1)
        return (edges & mask).astype(np.int64), (edges >> np.uint64(EDGE_KEY_SHIFT)).astype(np.int64), weight

    def _solve(self, new: tuple[bytes, ...]) -> _BaselineBlock:
        src, dst, weight = self._canonical_edges()
        store = GraphStore.from_edges(src, dst, weight, n=self.n)
        start = self._start_vector()
        result = _CommittedStart(store, self.params, start).solve(warm=True)
        commitment = Commitment.of(result.pi)
        verdict = verify(store, commitment, eps=self.params.eps, params=self.params)
        self.q, self.root = commitment.q, commitment.root
        return self._block(new, iterations=result.iterations, converged=result.converged,
                           residual=verdict.residual_l1, verified=verdict.accepted)

    def _start_vector(self) -> np.ndarray:
        """The committed π of the previous block, the teleport for particles new since."""
        n = self.n
        v = self.params.teleport_for(n)
        pi = np.concatenate([dequantize(self.q), v[len(self.q):]])
        total = float(pi.sum())
        return pi / total if total > 0 else v

    def _block(self, new: tuple[bytes, ...], *, iterations: int, converged: bool,
               residual: float = 0.0, verified: bool = True) -> _BaselineBlock:
        if len(self.q) != self.n:  # new particles but nothing to solve: cannot happen
            raise AssertionError("π does not cover every particle")
        return _BaselineBlock(self.height, self.root, iterations,
                          converged, residual, verified)


class _CommittedStart(CpuSolver):
    """The kernels' CPU solver, warm-started from a given (committed) vector instead of its
    own in-memory float π, which a restarted validator would not have."""

    def __init__(self, store: GraphStore, params: FocusParams, start: np.ndarray) -> None:
        super().__init__(store, params)
        assert len(start) == store.n
        self._committed_start = start

    def start_vector(self, *, warm: bool) -> np.ndarray:
        return self._committed_start if warm else super().start_vector(warm=False)


def _addresses(rows: np.ndarray) -> list[bytes]:
    """The (n, 20) uint8 neuron column as bytes, one per row."""
    flat = np.ascontiguousarray(rows, np.uint8).tobytes()
    return [flat[i:i + ADDRESS_BYTES] for i in range(0, len(flat), ADDRESS_BYTES)]




class _CommittedStart(CpuSolver):
    """(baseline) The CPU solver warm-started from the committed vector."""

    def __init__(self, store: GraphStore, params: FocusParams, start: np.ndarray) -> None:
        super().__init__(store, params)
        assert len(start) == store.n
        self._committed_start = start

    def start_vector(self, *, warm: bool) -> np.ndarray:
        return self._committed_start if warm else super().start_vector(warm=False)


def _addresses(rows: np.ndarray) -> list[bytes]:
    """(baseline) The (n, 20) uint8 neuron column as bytes, one per row."""
    flat = np.ascontiguousarray(rows, np.uint8).tobytes()
    return [flat[i:i + ADDRESS_BYTES] for i in range(0, len(flat), ADDRESS_BYTES)]


# ============================================================================================
# END OF BASELINE
# ============================================================================================
def chain(links: int, neurons: int, particles: int, blocks: int, per_block: int, seed: int,
          senders: int = 20) -> list[tuple[LinkDeltas, dict[bytes, int]]]:
    """A bulk block of ``links`` distinct cyberlinks (random neurons), then ``blocks``
    blocks of ``per_block`` new links sent by ``senders`` neurons each (a tx carries a
    batch of one neuron's links, as the devnet's 20-50 links per tx). Every sender's
    balance changes in its block (the fee), and 4 other neurons' too (transfers): both
    re-weight every link of that neuron (stake / links)."""
    rng = np.random.default_rng(seed)
    cids = np.frombuffer(b"".join(cid_of(i.to_bytes(4, "little")) for i in range(particles)),
                         np.uint8).reshape(particles, -1)
    addrs = np.frombuffer(b"".join(bytes([1]) + i.to_bytes(19, "little") for i in range(neurons)),
                          np.uint8).reshape(neurons, ADDRESS_BYTES)
    pop = 1.0 / np.arange(1, particles + 1) ** 0.8  # power-law particle popularity
    pop /= pop.sum()
    seen = np.zeros(0, np.uint64)

    def fresh(count: int, who_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nonlocal seen
        m = int(count * 1.3) + 16
        src, dst = rng.choice(particles, m, p=pop), rng.choice(particles, m, p=pop)
        who = rng.choice(who_of, m)
        key = (who.astype(np.uint64) << np.uint64(40)) | (src.astype(np.uint64) << np.uint64(20)) \
            | dst.astype(np.uint64)
        _, first = np.unique(key, return_index=True)
        ok = np.zeros(m, bool)
        ok[first] = True
        ok &= (src != dst) & ~np.isin(key, seen)
        idx = np.flatnonzero(ok)[:count]
        assert len(idx) == count, "raise the oversampling"
        seen = np.union1d(seen, key[idx])
        return who[idx], src[idx], dst[idx]

    balances = rng.lognormal(8.0, 2.0, neurons).astype(np.int64)

    def block(who: np.ndarray, src: np.ndarray, dst: np.ndarray) -> LinkDeltas:
        return LinkDeltas(neuron=addrs[who], src=cids[src], dst=cids[dst],
                          sign=np.ones(len(who), np.int8))

    out = [(block(*fresh(links, np.arange(neurons))),
            {addrs[u].tobytes(): int(balances[u]) for u in range(neurons)})]
    for _ in range(blocks):
        sending = rng.choice(neurons, senders, replace=False)
        who, src, dst = fresh(per_block, sending)
        movers = rng.integers(0, neurons, 4)
        balances[sending] -= 1  # the fee
        balances[movers] = rng.integers(0, 10**6, 4)
        bal = {addrs[u].tobytes(): int(balances[u]) for u in {*sending.tolist(), *movers.tolist()}}
        out.append((block(who, src, dst), bal))
    return out


def run(state: object, blocks: list[tuple[LinkDeltas, dict[bytes, int]]]) -> tuple[float, list[float], list[int], bytes]:
    """(bulk block seconds, ms per later block, iterations per later block, last root)."""
    t0 = time.perf_counter()
    state.apply(1, *blocks[0])  # type: ignore[attr-defined]
    bulk = time.perf_counter() - t0
    ms, its = [], []
    fb = None
    for h, (d, bal) in enumerate(blocks[1:], start=2):
        t0 = time.perf_counter()
        fb = state.apply(h, d, bal)  # type: ignore[attr-defined]
        ms.append((time.perf_counter() - t0) * 1e3)
        its.append(fb.iterations)
    assert fb is not None
    return bulk, ms, its, fb.root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--links", type=int, default=1_000_000)
    ap.add_argument("--neurons", type=int, default=2_000)
    ap.add_argument("--particles", type=int, default=1 << 17)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--per-block", type=int, default=1_000)
    ap.add_argument("--senders", type=int, default=20, help="neurons sending a block's links")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    t0 = time.perf_counter()
    blocks = chain(a.links, a.neurons, a.particles, a.blocks, a.per_block, a.seed, a.senders)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or '?'}; "
          f"numpy {np.__version__}; chain built in {time.perf_counter() - t0:.1f} s")
    print(f"{a.links} links in block 1 ({a.neurons} neurons, {a.particles} particles), then "
          f"{a.blocks} blocks of {a.per_block} new links from {a.senders} senders + 4 transfers")
    rows = {}
    exact, baseline = FocusState(), BaselineFloatFocusState()
    for name, state in (("baseline (float canonical rebuild)", baseline),
                        ("exact incremental", exact)):
        bulk, ms, its, _root = run(state, blocks)
        rows[name] = {"bulk_s": bulk, "ms_median": float(np.median(ms)), "ms_max": max(ms),
                      "ms": ms, "iterations": its}
        print(f"{name:36s} block 1: {bulk:6.2f} s   per block: median {np.median(ms):8.1f} ms, "
              f"max {max(ms):8.1f} ms   iterations {its}")
    base, new = rows["baseline (float canonical rebuild)"], rows["exact incremental"]
    print(f"speed-up per block (median): {base['ms_median'] / new['ms_median']:.1f}x")
    u, s, d = exact.store.cyberlinks()
    restarted = FocusState.restore(
        height=exact.height, cids=list(exact.cids), q=exact.q.copy(),
        links=[(exact.addresses[x], exact.cids[y], exact.cids[z])
               for x, y, z in zip(u.tolist(), s.tolist(), d.tolist(), strict=True)],
        balances={ad: exact.stakes[i] for i, ad in enumerate(exact.addresses)})
    assert restarted.root == exact.root and merkle_root(restarted.q) == exact.root
    l1 = float(np.abs(dequantize(baseline.q) - exact.q.astype(np.float64) / 2.0**60).sum())
    rows["l1_exact_vs_baseline"] = l1  # type: ignore[assignment]
    print(f"exact: a restart from the durable pieces holds the same root ({exact.root.hex()[:16]}); "
          f"L1(exact π - baseline float π) at the last block = {l1:.2e}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
