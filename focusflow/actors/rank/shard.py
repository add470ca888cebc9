"""Sans-IO core of one rank shard worker.

A shard owns the particles that murmur3-64 of their CID puts in it. It keeps

* an in-link CSR (the kernels' :class:`InLinkCSR`, on numpy or CuPy) over the edges with
  both ends in the shard, in local ids, taking each block's delta in place;
* the buffer of cross-shard edges whose *source* it owns (so the source's out-weight,
  which normalises its mass, is all local): a second :class:`InLinkCSR` whose rows are
  *slots*, one per remote destination (peer shard, local id there), handed out as new
  destinations appear and never moved, so a block's cross delta is applied in place like
  the local one and the per-peer slot lists only grow;
* its π slice.

One round (a BSP superstep of the power iteration π' = d·Pᵀπ + (d·D + 1 − d)/n):

1. x = π ⊙ 1/out; y = local pull Wᵀx; one :class:`Mass` per peer with Σ x_i·W_ij per
   remote destination j; a :class:`Report` (residual of the last step, dangling mass D_s,
   Σπ_s) to the coordinator;
2. when the masses of every peer for this round and the coordinator's :class:`Go` (global
   D and c = 1/Σπ) are in: π' = c·d·(y + incoming) + (c·d·D + 1 − d)/n, next round.
   The factor c is 1 up to rounding on a plain run; it matters after new particles
   joined with a teleport share or a restarted shard brought back an older slice: the
   iteration then runs on the normalised vector, as the single kernel's warm start does.

Messages of an older epoch are dropped, ones of a later round are buffered (a peer is
at most one round ahead), duplicates overwrite themselves, and a repeated Start or Go is
answered by resending the last two rounds' output: delays, reordering, duplication and
loss change the timing, never the numbers.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from focusflow.actors.rank.effects import COORDINATOR, Send
from focusflow.actors.rank.messages import (
    PART_VALUES_MAX,
    Go,
    Mass,
    ProtocolError,
    Report,
    ShardDelta,
    Slice,
    Start,
    Stop,
    check_delta,
    check_mass,
)
from focusflow.actors.rank.store import ShardGraph
from focusflow.kernels import EdgeDelta, InLinkCSR
from focusflow.kernels._csr import OUT_WEIGHT_MIN

INBOX_PARTS_MAX = 1 << 14  # buffered Mass parts; beyond it a part is dropped (resent later)
BLOCKS_AHEAD_MAX = 4  # delta parts buffered for heights beyond the one applied


@dataclass
class _Slots:
    """Remote destinations of the cross edges: slot i is (peer[i], dst[i])."""

    peer: np.ndarray  # int64 per slot
    dst: np.ndarray  # int64 per slot (local id in the peer)
    sorted_keys: np.ndarray  # uint64 peer << 32 | dst, sorted
    sorted_ids: np.ndarray  # int64 slot of each sorted key
    by_peer: dict[int, np.ndarray]  # host int64 slot ids per peer, ascending

    @classmethod
    def empty(cls) -> _Slots:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, np.zeros(0, dtype=np.uint64), z, {})

    def lookup(self, peer: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Slot ids of (peer, dst) pairs, handing out new slots for unseen pairs."""
        keys = (peer.astype(np.uint64) << np.uint64(32)) | dst.astype(np.uint64)
        pos = np.searchsorted(self.sorted_keys, keys)
        hit = pos < len(self.sorted_keys)
        hit[hit] = self.sorted_keys[pos[hit]] == keys[hit]
        out = np.empty(len(keys), dtype=np.int64)
        out[hit] = self.sorted_ids[pos[hit]]
        if not hit.all():
            fresh, inverse = np.unique(keys[~hit], return_inverse=True)
            ids = np.arange(len(self.peer), len(self.peer) + len(fresh), dtype=np.int64)
            out[~hit] = ids[inverse]
            f_peer = (fresh >> np.uint64(32)).astype(np.int64)
            self.peer = np.concatenate([self.peer, f_peer])
            self.dst = np.concatenate([self.dst, (fresh & np.uint64(0xFFFFFFFF)).astype(np.int64)])
            keys_all = np.concatenate([self.sorted_keys, fresh])
            order = np.argsort(keys_all, kind="stable")
            self.sorted_keys = keys_all[order]
            self.sorted_ids = np.concatenate([self.sorted_ids, ids])[order]
            for p in np.unique(f_peer).tolist():
                add = ids[f_peer == p]
                self.by_peer[p] = np.concatenate([self.by_peer.get(p, ids[:0]), add])
        return out


class ShardCore:
    """One shard's graph, π slice and round state machine (no I/O)."""

    def __init__(self, graph: ShardGraph, shards: int, *, xp: Any = np,
                 device: int | None = None, incarnation: int = 0) -> None:
        """``xp`` numpy (CPU kernels) or cupy with ``device`` its CUDA device id: every
        array of the shard then lives on that device and every input runs there.
        ``incarnation`` (the worker's) goes into every Report, so the coordinator can
        tell a restarted worker's numbers from its predecessor's."""
        self.incarnation = incarnation
        assert 0 <= graph.shard < shards and graph.n_local >= 0
        assert (xp is np) == (device is None), "a device goes with the CuPy namespace"
        self.shard, self.shards, self.xp, self.device = graph.shard, shards, xp, device
        self.backend = "cpu" if device is None else f"cuda:{device}"
        with self._on_device():
            self._setup(graph)

    def _on_device(self) -> Any:
        """The CuPy device context of this shard (a no-op context on the CPU path)."""
        if self.device is None:
            return contextlib.nullcontext()
        return self.xp.cuda.Device(self.device)

    def _setup(self, graph: ShardGraph) -> None:
        xp = self.xp
        self.height = graph.height
        self.n_local = graph.n_local
        self.n_global = graph.n_global
        self.damping = 0.85
        self.csr = InLinkCSR(xp, graph.n_local, xp.asarray(graph.local_src),
                             xp.asarray(graph.local_dst), xp.asarray(graph.local_w),
                             xp.asarray(graph.local_count))
        self.slots = _Slots.empty()
        slot = self.slots.lookup(graph.cross_peer, graph.cross_dst)
        self.cross = InLinkCSR(xp, max(graph.n_local, len(self.slots.peer)),
                               xp.asarray(graph.cross_src), xp.asarray(slot),
                               xp.asarray(graph.cross_w), xp.asarray(graph.cross_count))
        pi0 = graph.pi
        if pi0 is None or len(pi0) != graph.n_local or not pi0.sum() > 0:
            pi0 = np.full(graph.n_local, 1.0 / max(graph.n_global, 1))
        self.pi = xp.asarray(pi0, dtype=xp.float64)
        self.epoch = 0
        self.round = 0
        self.phase = "idle"  # idle → loading → iterating → stopped
        self.target_height = graph.height
        self._pending: dict[int, dict[int, ShardDelta]] = {}
        self._inbox: dict[tuple[int, int, int], dict[int, Mass]] = {}
        self._go: tuple[int, float, float] | None = None
        self._outbox: dict[int, list[Send]] = {}
        self._slices: list[Send] = []
        self.stats = {"rounds": 0, "dropped": 0, "resends": 0, "deltas": 0}
        self._rebuild()

    # -- structure ------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """Per-peer slot lists on the device, out-weights (local + cross), dangling set."""
        xp = self.xp
        self._peer_slots = {p: (xp.asarray(ids), self.slots.dst[ids].astype("<u4"))
                            for p, ids in self.slots.by_peer.items()}
        total = self.csr.out_w + self.cross.out_w[: self.n_local]
        pos = total > OUT_WEIGHT_MIN
        self._inv = xp.where(pos, 1.0 / xp.where(pos, total, 1.0), 0.0)
        self._dangling = ~pos
        self._matrix = self._make_matrix(self.csr)
        self._cross_matrix = self._make_matrix(self.cross)

    def _make_matrix(self, csr: InLinkCSR) -> Any:
        if self.xp is np:
            import scipy.sparse as sp

            return sp.csr_matrix((csr.data, csr.indices, csr.indptr),
                                 shape=(csr.n, csr.n), copy=False)
        import cupyx.scipy.sparse as csp  # lazy: only a CuPy worker gets here

        assert csr.nnz < 2**31, "cuSPARSE CSR takes int32 indices"
        return csp.csr_matrix((csr.data, csr.indices, csr.indptr.astype(self.xp.int32)),
                              shape=(csr.n, csr.n))

    def _gather(self, csr: InLinkCSR, matrix: Any, x: Any) -> Any:
        """y_j = Σ_i W_ij x_i over a CSR's base and delta edges (rows: destinations)."""
        xp = self.xp
        y = matrix @ x
        if len(csr.d_keys):
            d_dst, d_src, d_w = csr.delta_coo()
            y = y + xp.bincount(d_dst, weights=d_w * x[d_src], minlength=csr.n)
        return y

    def _apply(self, parts: dict[int, ShardDelta]) -> None:
        """Apply one block's delta parts (all present) to the CSR and the cross buffer."""
        xp = self.xp
        msgs = [parts[p] for p in sorted(parts)]
        n_local = msgs[0].n_local
        assert n_local >= self.n_local, "a shard never shrinks"

        def cat(name: str, dtype: Any) -> np.ndarray:
            return np.concatenate([getattr(m, name) for m in msgs]).astype(dtype)

        self.csr.apply(EdgeDelta(cat("local_src", np.int64), cat("local_dst", np.int64),
                                 cat("local_dw", np.float64), cat("local_dcount", np.int64),
                                 n_local))
        slot = self.slots.lookup(cat("cross_peer", np.int64), cat("cross_dst", np.int64))
        self.cross.apply(EdgeDelta(cat("cross_src", np.int64), slot, cat("cross_dw", np.float64),
                                   cat("cross_dcount", np.int64),
                                   max(n_local, len(self.slots.peer), self.cross.n)))
        if n_local > self.n_local:
            fill = xp.full(n_local - self.n_local, 1.0 / max(self.n_global, 1))
            self.pi = xp.concatenate([self.pi, fill])
        self.n_local = n_local
        self.height = msgs[0].height
        self.stats["deltas"] += 1
        self._rebuild()

    # -- inputs ---------------------------------------------------------------------------
    def receive(self, msg: Any) -> list[Send]:
        """Feed one message; returns what to send. Raises ProtocolError for a peer's
        malformed message (the caller drops it) and AssertionError for a local bug."""
        with self._on_device():
            return self._dispatch(msg)

    def _dispatch(self, msg: Any) -> list[Send]:
        if isinstance(msg, Mass):
            return self._on_mass(msg)
        if isinstance(msg, Go):
            return self._on_go(msg)
        if isinstance(msg, Start):
            return self._on_start(msg)
        if isinstance(msg, ShardDelta):
            return self._on_delta(msg)
        if isinstance(msg, Stop):
            return self._on_stop(msg)
        raise ProtocolError(f"a shard does not take {type(msg).__name__}")

    def _on_start(self, msg: Start) -> list[Send]:
        if msg.epoch < self.epoch:
            return []
        if msg.epoch == self.epoch:
            return self._try_begin() if self.phase == "loading" else self._resend()
        if msg.height < self.height:
            return []  # a stale Start from before a restart rebuilt us at a later height
        self.epoch, self.target_height = msg.epoch, msg.height
        self.n_global, self.damping = msg.n_global, msg.damping
        self.phase = "loading"
        self._go = None
        self._outbox = {}
        self._slices = []
        self._inbox = {k: v for k, v in self._inbox.items() if k[0] >= msg.epoch}
        return self._try_begin()

    def _on_delta(self, msg: ShardDelta) -> list[Send]:
        check_delta(msg, shards=self.shards)
        if msg.height <= self.height:
            return []  # already in (a retransmit, or we were rebuilt past it)
        if msg.height > self.height + BLOCKS_AHEAD_MAX:
            self.stats["dropped"] += 1
            return []
        self._pending.setdefault(msg.height, {})[msg.part] = msg
        return self._try_begin() if self.phase == "loading" else []

    def _try_begin(self) -> list[Send]:
        """Apply complete pending blocks up to the target height; start round 0 there."""
        while self.height < self.target_height:
            parts = self._pending.get(self.height + 1)
            if not parts or len(parts) < next(iter(parts.values())).parts:
                return []
            del self._pending[self.height + 1]
            self._apply(parts)
        assert self.height == self.target_height, "rebuilt past the block being computed"
        if self.n_local != len(self.pi):
            raise AssertionError("π slice and graph disagree on the particle count")
        self.phase, self.round = "iterating", 0
        return self._emit_round(math.nan) + self._try_advance()

    def _on_mass(self, msg: Mass) -> list[Send]:
        check_mass(msg, shards=self.shards)  # indices are checked when used: a mass may
        # arrive before this shard applied the block that grew it
        if msg.epoch < self.epoch or (msg.epoch == self.epoch and msg.round < self.round):
            return []
        if sum(len(v) for v in self._inbox.values()) >= INBOX_PARTS_MAX:
            self.stats["dropped"] += 1
            return []
        self._inbox.setdefault((msg.epoch, msg.round, msg.from_shard), {})[msg.part] = msg
        return self._try_advance()

    def _on_go(self, msg: Go) -> list[Send]:
        if msg.epoch != self.epoch or self.phase not in ("iterating", "stopped"):
            return []
        if msg.round < self.round or self.phase == "stopped":
            return self._resend()
        if msg.round == self.round:
            if not (msg.scale > 0 and math.isfinite(msg.scale)):
                raise ProtocolError(f"normalisation {msg.scale!r}")
            self._go = (msg.round, msg.dangling, msg.scale)
        return self._try_advance()

    def _on_stop(self, msg: Stop) -> list[Send]:
        if msg.epoch != self.epoch or msg.round != self.round:
            return []
        if self.phase == "stopped":
            return self._resend()
        if self.phase != "iterating":
            return []
        self.phase = "stopped"
        pi = self._host(self.pi)
        self._slices = []
        parts = max(1, -(-len(pi) // PART_VALUES_MAX))
        for p in range(parts):
            a = p * PART_VALUES_MAX
            self._slices.append(Send(COORDINATOR, Slice(self.epoch, self.shard, p, parts, a,
                                                        pi[a:a + PART_VALUES_MAX])))
        return list(self._slices)

    # -- rounds ---------------------------------------------------------------------------
    def _emit_round(self, residual: float) -> list[Send]:
        """Output of the current round: masses to every peer and the report."""
        xp = self.xp
        x = self.pi * self._inv
        self._y = self._gather(self.csr, self._matrix, x)
        xc = x if self.cross.n == self.n_local else xp.concatenate(
            [x, xp.zeros(self.cross.n - self.n_local)])
        y_slots = self._gather(self.cross, self._cross_matrix, xc)
        out: list[Send] = []
        empty = (np.zeros(0, "<u4"), np.zeros(0))
        for p in range(self.shards):
            if p == self.shard:
                continue
            if p in self._peer_slots:
                ids, dst = self._peer_slots[p]
                index, mass = dst, self._host(y_slots[ids])
            else:
                index, mass = empty
            parts = max(1, -(-len(mass) // PART_VALUES_MAX))
            for k in range(parts):
                a, b = k * PART_VALUES_MAX, (k + 1) * PART_VALUES_MAX
                out.append(Send(p, Mass(self.epoch, self.round, self.shard, k, parts,
                                        index[a:b], mass[a:b])))
        dangling = float(self.pi[self._dangling].sum())
        out.append(Send(COORDINATOR, Report(self.epoch, self.round, self.shard, residual,
                                            dangling, float(self.pi.sum()), self.incarnation)))
        self._outbox = {r: v for r, v in self._outbox.items() if r >= self.round - 1}
        self._outbox[self.round] = out
        self.stats["rounds"] += 1
        return out

    def _complete(self) -> list[Mass] | None:
        """Every peer's mass parts for the current round, or None while some are missing."""
        got: list[Mass] = []
        for p in range(self.shards):
            if p == self.shard:
                continue
            parts = self._inbox.get((self.epoch, self.round, p))
            if not parts or len(parts) < next(iter(parts.values())).parts:
                return None
            got.extend(parts[i] for i in sorted(parts))
        return got

    def _try_advance(self) -> list[Send]:
        if self.phase != "iterating" or self._go is None or self._go[0] != self.round:
            return []
        masses = self._complete()
        if masses is None:
            return []
        xp = self.xp
        y = self._y
        if masses:  # one scatter for every peer's mass (indices may repeat across peers)
            index = np.concatenate([m.index for m in masses])
            if len(index):
                if int(index.max()) >= self.n_local:
                    raise ProtocolError(f"mass for particle {int(index.max())} of "
                                        f"{self.n_local}")
                mass = np.concatenate([m.mass for m in masses])
                if xp is np:
                    y = y + np.bincount(index, weights=mass, minlength=self.n_local)
                else:  # scatter on the device: ship the sparse pairs, not a dense vector
                    y = y + xp.bincount(xp.asarray(index.astype(np.int32)),
                                        weights=xp.asarray(mass), minlength=self.n_local)
        d = self.damping
        _, dangling, scale = self._go
        coef = (d * dangling * scale + 1.0 - d) / self.n_global
        new = (d * scale) * y + coef
        residual = float(xp.abs(new - self.pi * scale).sum())
        self.pi = new
        for p in range(self.shards):
            self._inbox.pop((self.epoch, self.round, p), None)
        self.round += 1
        self._go = None
        return self._emit_round(residual)

    def _resend(self) -> list[Send]:
        """Repeat the last two rounds' output (and the slice once stopped)."""
        self.stats["resends"] += 1
        out: list[Send] = []
        prev = self._outbox.get(self.round - 1, [])
        out.extend(s for s in prev if isinstance(s.msg, Mass))
        out.extend(self._outbox.get(self.round, []))
        if self.phase == "stopped":
            out.extend(self._slices)
        return out

    def _host(self, a: Any) -> np.ndarray:
        return a if isinstance(a, np.ndarray) else a.get()

    def pi_host(self) -> np.ndarray:
        """The π slice on the host (float64, local order)."""
        return np.asarray(self._host(self.pi), dtype=np.float64)

    def invariants(self) -> None:
        """Structure checks the simulator and tests call."""
        with self._on_device():
            self._invariants()

    def _invariants(self) -> None:
        assert len(self.pi) == self.n_local == self.csr.n
        assert self.phase in ("idle", "loading", "iterating", "stopped")
        assert all(k[0] >= self.epoch for k in self._inbox), "stale epoch buffered"
        assert bool(self.xp.all(self.pi >= 0)), "π went negative"
        self.csr.invariants()
        self.cross.invariants()
        assert self.cross.n >= max(self.n_local, len(self.slots.peer))
