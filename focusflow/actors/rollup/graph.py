"""A bucket's graph, built the same way by the sequencer and by anyone re-executing it.

Particles and neurons are 64-bit keys; the first appearance in batch order gives each a
dense local id, so the sequencer and a challenger replaying the same DA batches get the
same numbering and the same π vector. Stakes come from the rollup's stake table
(:func:`default_stake`: a fixed function of the neuron key, so replay needs no extra
data). Links are a set per neuron (the kernels' semantics); batches only insert.
"""

from __future__ import annotations

import numpy as np

from focusflow.actors.rollup.messages import Batch
from focusflow.kernels import CpuSolver, EdgeDelta, FocusParams, GraphStore

__all__ = ["BucketGraph", "default_stake", "union_focus", "weight_mass"]

particles_per_bucket_max = 1 << 24
links_per_batch_max = 1 << 16


def default_stake(neuron_key: int) -> float:
    """The rollup's stake table: 1..100 tokens from the key (deterministic)."""
    return float(1 + neuron_key % 100)


def weight_mass(store: GraphStore, pi: np.ndarray, damping: float) -> float:
    """n / (1 − d + d·Σ_dangling π): the bucket's weight when buckets are merged.

    Why: with uniform teleport over all particles and dangling mass sent to teleport,
    the global π restricted to a bucket is proportional to the bucket's own π, with
    weight n_b / c_b where c_b = 1 − d + d·(dangling mass of the bucket's own π).
    """
    n = store.n
    if n == 0:
        return 0.0
    dangling = np.asarray(store.csr.inv_out()) == 0.0
    c = 1.0 - damping + damping * float(np.asarray(pi)[dangling].sum())
    assert c > 0
    return n / c


class BucketGraph:
    """Links of one bucket as a kernels ``GraphStore`` plus a warm-started CPU solver."""

    def __init__(self, bucket: bytes, params: FocusParams) -> None:
        self.bucket = bucket
        self.params = params
        self.store = GraphStore(0)
        self.solver = CpuSolver(self.store, params)
        self.particle_ids: dict[int, int] = {}
        self.neuron_ids: dict[int, int] = {}
        self.next_batch = 1
        self.links = 0
        self.log: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (neuron, src, dst)

    @staticmethod
    def _ids(table: dict[int, int], keys: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Dense ids of ``keys`` (new keys numbered in order of appearance), new keys."""
        out = np.empty(len(keys), dtype=np.int64)
        fresh: list[int] = []
        for i, k in enumerate(keys.tolist()):
            v = table.get(k)
            if v is None:
                v = table[k] = len(table)
                fresh.append(k)
            out[i] = v
        return out, fresh

    def apply(self, batch: Batch) -> EdgeDelta:
        """Apply the next batch (its ``seq`` must follow); returns the kernels' delta.

        Raises ValueError for a batch of another bucket, out of order, or too large.
        """
        if batch.bucket != self.bucket:
            raise ValueError("batch of another bucket")
        if batch.seq != self.next_batch:
            raise ValueError(f"batch {batch.seq}, expected {self.next_batch}")
        if len(batch.src) > links_per_batch_max:
            raise ValueError("batch too large")
        neurons, fresh = self._ids(self.neuron_ids, np.asarray(batch.neuron, dtype=np.uint64))
        src, _ = self._ids(self.particle_ids, np.asarray(batch.src, dtype=np.uint64))
        dst, _ = self._ids(self.particle_ids, np.asarray(batch.dst, dtype=np.uint64))
        if len(self.particle_ids) > particles_per_bucket_max:
            raise ValueError("particles_per_bucket_max exceeded")
        new = {self.neuron_ids[k]: default_stake(k) for k in fresh}
        delta = self.store.update(insert=(neurons, src, dst), stakes=new)
        self.log.append((neurons, src, dst))
        self.solver.apply(delta)
        self.next_batch += 1
        self.links += len(src)
        return delta

    def solve(self) -> np.ndarray:
        """π of the bucket's graph (warm start); raises ConvergenceError if capped."""
        return self.solver.solve(warm=True).require_converged().pi

    def weight_mass(self, pi: np.ndarray) -> float:
        """See :func:`weight_mass`."""
        return weight_mass(self.store, pi, self.params.damping)


def union_focus(graphs: list[BucketGraph], params: FocusParams) -> np.ndarray:
    """From-scratch π over the disjoint union of the buckets' graphs (in list order).

    The reference the merged global π is checked against: bucket b's particle i is
    global particle offset_b + i, its neuron u is a neuron of its own.
    """
    neurons: list[np.ndarray] = []
    srcs: list[np.ndarray] = []
    dsts: list[np.ndarray] = []
    stakes: dict[int, float] = {}
    p_off = u_off = 0
    for g in graphs:
        for nu, s, d in g.log:
            neurons.append(nu + u_off)
            srcs.append(s + p_off)
            dsts.append(d + p_off)
        for k, u in g.neuron_ids.items():
            stakes[u + u_off] = default_stake(k)
        p_off += g.store.n
        u_off += len(g.neuron_ids)
    if not p_off:
        return np.zeros(0)
    cat = np.concatenate
    store = GraphStore.from_cyberlinks(cat(neurons), cat(srcs), cat(dsts), stakes, n=p_off)
    return CpuSolver(store, params).solve(warm=False).require_converged().pi
