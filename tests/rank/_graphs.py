"""Graphs and blocks for the rank tests (small: the suite must stay fast)."""

from __future__ import annotations

import networkx as nx
import numpy as np

from focusflow.actors.rank import RankStore
from focusflow.actors.rank.messages import RankBlock
from focusflow.actors.state import cid_of
from focusflow.kernels import CpuSolver, FocusParams, GraphStore

DAMPING = 0.85
EPS = 1e-6
#: ‖π − π*‖₁ ≤ d/(1−d)·‖π_t − π_{t−1}‖₁ < d/(1−d)·ε for a run stopped at ε (L1 contraction);
#: 5 % on top for the normalisation and float sums.
BOUND_L1 = 1.05 * DAMPING / (1 - DAMPING) * EPS


def keys(n: int) -> list[bytes]:
    """CIDs of particles 0..n-1."""
    return [cid_of(b"rank test particle %d" % i) for i in range(n)]


def random_edges(seed: int, *, n: int = 600, m: int = 4000,
                 dangling_share: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Power-law-ish destinations, some sinks (dangling), random weights."""
    rng = np.random.default_rng(seed)
    s = rng.integers(int(dangling_share * n), n, m)
    d = (rng.zipf(1.6, m) - 1) % n
    w = rng.random(m) + 0.01
    return s, d, w, n


def real_edges() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Les Misérables co-appearances (a real weighted graph, both directions) plus a
    directed scale-free graph (Bollobás et al.) of 1500 nodes joined to it."""
    les = nx.convert_node_labels_to_integers(nx.les_miserables_graph())
    src, dst, w = [], [], []
    for a, b, data in les.edges(data=True):
        src += [a, b]
        dst += [b, a]
        w += [float(data.get("weight", 1.0))] * 2
    sf = nx.scale_free_graph(1500, seed=7)
    off = les.number_of_nodes()
    for a, b in sf.edges():
        src.append(a + off)
        dst.append(b + off)
        w.append(1.0)
    src += [0, off]  # one bridge each way
    dst += [off, 0]
    w += [1.0, 1.0]
    return np.array(src), np.array(dst), np.array(w), off + 1500


def store_of(edges: tuple[np.ndarray, np.ndarray, np.ndarray, int], shards: int) -> RankStore:
    s, d, w, n = edges
    return RankStore(shards, GraphStore.from_edges(s, d, w, n=n), keys(n))


def single(store_or_graph: RankStore | GraphStore, *, eps: float = EPS) -> np.ndarray:
    """π by the single CPU kernel on the same graph."""
    g = store_or_graph.graph if isinstance(store_or_graph, RankStore) else store_or_graph
    return CpuSolver(g, FocusParams(eps=eps)).solve(warm=False).require_converged().pi


class BlockMaker:
    """Random link/unlink blocks in the state actor's format (CID and address rows)."""

    def __init__(self, seed: int, *, particles: int = 300, neurons: int = 12) -> None:
        self.rng = np.random.default_rng(seed)
        self.cids = keys(particles)
        self.neurons = [bytes([i + 1]) * 20 for i in range(neurons)]
        self.live: set[tuple[int, int, int]] = set()
        self.height = 0

    def next(self, links: int = 200) -> tuple[RankBlock, dict[bytes, float]]:
        rng, rows, seen = self.rng, [], set()
        for _ in range(links):
            u = int(rng.integers(len(self.neurons)))
            a = int(rng.integers(len(self.cids)))
            b = int((rng.zipf(1.5) - 1) % len(self.cids))
            key = (u, a, b)
            if key in seen:
                continue
            seen.add(key)
            if key in self.live:
                if rng.random() < 0.5:
                    self.live.discard(key)
                    rows.append((u, a, b, -1))
            else:
                self.live.add(key)
                rows.append((u, a, b, 1))
        self.height += 1
        stakes = {self.neurons[int(i)]: float(rng.integers(1, 1000))
                  for i in rng.integers(0, len(self.neurons), 3)}
        if self.height == 1:
            stakes = {x: float(rng.integers(1, 1000)) for x in self.neurons}
        blk = RankBlock(
            self.height,
            np.frombuffer(b"".join(self.neurons[r[0]] for r in rows), np.uint8),
            np.frombuffer(b"".join(self.cids[r[1]] for r in rows), np.uint8),
            np.frombuffer(b"".join(self.cids[r[2]] for r in rows), np.uint8),
            np.array([r[3] for r in rows], np.int8),
            np.frombuffer(b"".join(stakes), np.uint8),
            np.array(list(stakes.values())))
        return blk, stakes
