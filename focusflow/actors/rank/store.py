"""The host-side graph the rank workers are built and rebuilt from.

``RankStore`` holds what a validator host already keeps for the state actor, in the shape
the rank side needs: particles (CIDs) with their shard and local id, the kernels'
:class:`GraphStore` over dense ids (neuron bookkeeping, host CSR), the block height and
the last committed π. A block becomes an aggregated :class:`EdgeDelta` here, which
:meth:`RankStore.route` cuts into one part list per shard. A worker that restarts calls
:meth:`RankStore.shard_graph` to rebuild its shard: it never needs its peers.

The host CSR is also the graph the verifier checks a proposer's π against (one
iteration, ``focusflow.kernels.verify``), which is why the coordinator keeps it whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from focusflow.actors.rank.messages import PART_VALUES_MAX, ShardDelta
from focusflow.actors.rank.sharding import SHARDS_MAX, assign_shards
from focusflow.actors.state.ids import CID_LEN
from focusflow.kernels import EdgeDelta, GraphStore

LINKS_PER_BLOCK_MAX = 1 << 24


@dataclass(frozen=True)
class ShardGraph:
    """One shard's edges as of ``height``: those whose source the shard owns."""

    shard: int
    height: int
    n_local: int
    n_global: int
    local_src: np.ndarray  # int64 local ids, both ends in the shard
    local_dst: np.ndarray
    local_w: np.ndarray
    local_count: np.ndarray
    cross_src: np.ndarray  # int64 local source
    cross_peer: np.ndarray  # int64 shard of the destination
    cross_dst: np.ndarray  # int64 destination's local id in its shard
    cross_w: np.ndarray
    cross_count: np.ndarray
    pi: np.ndarray | None  # the slice of the last committed π (local order), if any


class RankStore:
    """Particles by shard, the kernels' graph store, height and last committed π."""

    def __init__(self, shards: int, graph: GraphStore | None = None,
                 keys: Sequence[bytes] = ()) -> None:
        """``keys[i]`` is the CID of the graph's particle i (one per particle).

        Raises ValueError when the key count does not match the graph.
        """
        assert 1 <= shards <= SHARDS_MAX
        self.shards = shards
        self.graph = graph if graph is not None else GraphStore(0)
        if len(keys) != self.graph.n:
            raise ValueError(f"{len(keys)} keys for {self.graph.n} particles")
        self.keys: list[bytes] = []
        self.index: dict[bytes, int] = {}
        self.shard = np.zeros(0, dtype=np.int64)
        self.local = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(shards, dtype=np.int64)
        self.neurons: dict[bytes, int] = {}
        self.key_rows = np.zeros((0, CID_LEN), dtype=np.uint8)  # keys as one (n, 36) array
        self._members: list[np.ndarray] = [np.zeros(0, dtype=np.int64) for _ in range(shards)]
        self._by_cid: list[tuple[int, np.ndarray, np.ndarray]] = [
            (0, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=f"V{CID_LEN}"))
            for _ in range(shards)]
        self.height = 0
        self.committed_pi: np.ndarray | None = None
        self.admit(keys)

    # -- particles ----------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Particles known (global)."""
        return len(self.keys)

    def admit(self, keys: Sequence[bytes]) -> np.ndarray:
        """Global ids of ``keys``, appending the unknown ones (and placing them in shards).

        A new particle gets the next local id of its shard, so local order is global order
        within a shard and growth only appends.
        """
        ids = np.empty(len(keys), dtype=np.int64)
        fresh: list[bytes] = []
        for i, k in enumerate(keys):
            g = self.index.get(k)
            if g is None:
                if len(k) != CID_LEN:
                    raise ValueError(f"a particle key is a {CID_LEN}-byte CID, not {len(k)} bytes")
                g = len(self.keys)
                self.index[k] = g
                self.keys.append(k)
                fresh.append(k)
            ids[i] = g
        if fresh:
            sh = assign_shards(fresh, self.shards)
            loc = np.empty(len(sh), dtype=np.int64)
            for i, s in enumerate(sh.tolist()):  # sequential: ids are handed out in order
                loc[i] = self.counts[s]
                self.counts[s] += 1
            first = len(self.shard)
            self.shard = np.concatenate([self.shard, sh])
            self.local = np.concatenate([self.local, loc])
            rows = np.frombuffer(b"".join(fresh), dtype=np.uint8).reshape(len(fresh), CID_LEN)
            self.key_rows = np.concatenate([self.key_rows, rows])
            new_ids = np.arange(first, first + len(sh), dtype=np.int64)
            for s in np.unique(sh).tolist():
                self._members[s] = np.concatenate([self._members[s], new_ids[sh == s]])
        assert len(self.shard) == len(self.keys) == int(self.counts.sum())
        return ids

    def members(self, shard: int) -> np.ndarray:
        """Global ids of a shard's particles, in local order."""
        assert 0 <= shard < self.shards
        return self._members[shard]

    def members_by_cid(self, shard: int) -> np.ndarray:
        """Global ids of a shard's particles in CID byte order (the order of a
        ``/graph/pi/<shard>`` slice). Cached; particles that joined since the last call
        are merged in, so only the first call sorts the whole shard."""
        done, ids, keys = self._by_cid[shard]
        members = self._members[shard]
        if done < len(members):
            new = members[done:]
            new_keys = self.key_rows[new].view(f"V{CID_LEN}").ravel()
            order = np.argsort(new_keys, kind="stable")
            new, new_keys = new[order], new_keys[order]
            at = np.searchsorted(keys, new_keys)
            ids, keys = np.insert(ids, at, new), np.insert(keys, at, new_keys)
            self._by_cid[shard] = (len(members), ids, keys)
        return self._by_cid[shard][1]

    # -- blocks -------------------------------------------------------------------------
    def apply_block(self, height: int, neuron: np.ndarray, src: np.ndarray, dst: np.ndarray,
                    sign: np.ndarray, stakes: Mapping[bytes, float]) -> EdgeDelta:
        """Apply one block of link deltas (rows of CID / address bytes) and stake changes.

        Returns the aggregated edge delta. Raises ValueError on a height that does not
        extend the store, mismatched rows, or more than LINKS_PER_BLOCK_MAX links.
        """
        if height != self.height + 1:
            raise ValueError(f"block {height} does not extend height {self.height}")
        m = len(sign)
        if not (len(neuron) == len(src) == len(dst) == m) or m > LINKS_PER_BLOCK_MAX:
            raise ValueError("a block's link rows must match and stay under the limit")
        s_ids = self.admit([bytes(r) for r in src])
        d_ids = self.admit([bytes(r) for r in dst])
        u_ids = np.array([self.neurons.setdefault(bytes(r), len(self.neurons)) for r in neuron],
                         dtype=np.int64)
        stake_ids = {self.neurons.setdefault(k, len(self.neurons)): float(v)
                     for k, v in stakes.items()}
        sign = np.asarray(sign)
        add, rem = sign > 0, sign < 0
        self.graph.csr.grow(self.n)
        delta = self.graph.update(insert=(u_ids[add], s_ids[add], d_ids[add]),
                                  remove=(u_ids[rem], s_ids[rem], d_ids[rem]), stakes=stake_ids)
        if delta.n < self.n:  # particles admitted without links still exist
            delta = EdgeDelta(delta.src, delta.dst, delta.dw, delta.dcount, self.n)
        self.height = height
        return delta

    def apply_edges(self, height: int, src: np.ndarray, dst: np.ndarray,
                    weight: np.ndarray) -> EdgeDelta:
        """Apply one block of weighted edges between known particles (global ids; the
        weight adds to an existing edge). Raises ValueError on a height that does not
        extend the store, ids out of range or bad weights."""
        if height != self.height + 1:
            raise ValueError(f"block {height} does not extend height {self.height}")
        s, d = np.asarray(src, np.int64), np.asarray(dst, np.int64)
        if len(s) and (max(int(s.max()), int(d.max())) >= self.n or min(s.min(), d.min()) < 0):
            raise ValueError("edge block names particles the store does not know")
        delta = self.graph.update_edges(insert=(s, d, weight))
        self.height = height
        return delta

    def route(self, delta: EdgeDelta) -> list[list[ShardDelta]]:
        """Cut a global edge delta into parts per shard (each edge to its source's shard)."""
        assert delta.n <= self.n
        own = self.shard[delta.src]
        peer = self.shard[delta.dst]
        out: list[list[ShardDelta]] = []
        for s in range(self.shards):
            mine = own == s
            loc = mine & (peer == s)
            crs = mine & (peer != s)
            out.append(_parts(self.height, int(self.counts[s]),
                              (self.local[delta.src[loc]], self.local[delta.dst[loc]],
                               delta.dw[loc], delta.dcount[loc]),
                              (self.local[delta.src[crs]], peer[crs], self.local[delta.dst[crs]],
                               delta.dw[crs], delta.dcount[crs])))
        return out

    def shard_graph(self, shard: int) -> ShardGraph:
        """Rebuild one shard from the host CSR (live edges only) and the committed π."""
        assert 0 <= shard < self.shards
        csr = self.graph.csr
        keys = np.concatenate([csr.keys, csr.d_keys])
        w = np.concatenate([csr.data, csr.d_data])
        c = np.concatenate([csr.count, csr.d_count]).astype(np.int64)
        dst = (keys >> np.uint64(32)).astype(np.int64)
        src = (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)
        live = c > 0
        src, dst, w, c = src[live], dst[live], w[live], c[live]
        mine = self.shard[src] == shard
        loc = mine & (self.shard[dst] == shard)
        crs = mine & ~loc
        pi = None
        if self.committed_pi is not None:
            members = self.members(shard)
            pi = np.zeros(len(members))
            known = members[members < len(self.committed_pi)]
            pi[: len(known)] = self.committed_pi[known]
        return ShardGraph(shard, self.height, int(self.counts[shard]), self.n,
                          self.local[src[loc]], self.local[dst[loc]], w[loc], c[loc],
                          self.local[src[crs]], self.shard[dst[crs]], self.local[dst[crs]],
                          w[crs], c[crs], pi)


def _parts(height: int, n_local: int, local: tuple[np.ndarray, ...],
           cross: tuple[np.ndarray, ...]) -> list[ShardDelta]:
    """ShardDelta messages of at most PART_VALUES_MAX rows of each kind (at least one)."""
    rows = max(len(local[0]), len(cross[0]))
    parts = max(1, -(-rows // PART_VALUES_MAX))
    out = []
    for p in range(parts):
        a, b = p * PART_VALUES_MAX, (p + 1) * PART_VALUES_MAX
        out.append(ShardDelta(
            height, p, parts, n_local,
            local[0][a:b].astype("<u4"), local[1][a:b].astype("<u4"),
            local[2][a:b].astype("<f8"), local[3][a:b].astype("<i4"),
            cross[0][a:b].astype("<u4"), cross[1][a:b].astype("<u2"),
            cross[2][a:b].astype("<u4"), cross[3][a:b].astype("<f8"),
            cross[4][a:b].astype("<i4")))
    return out
