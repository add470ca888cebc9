"""Sans-IO core of the rank coordinator: blocks, epochs, rounds, commit, Δ-rank cadence.

Per block: apply the state actor's link deltas to the host store, route each shard its
part, open an epoch (``Start``) and run rounds: every round it waits for one ``Report``
per shard, sums residuals and dangling mass in shard order (the same float sums whatever
order the reports arrived in), and answers ``Go`` with the global dangling mass, or
``Stop`` once ‖π_t − π_{t−1}‖₁ < ε or at the iteration cap. The slices come back, π is
normalised, quantised and committed (BLAKE3 root from ``focusflow.kernels.Commitment``),
and checked the way every other validator checks a proposer's π: one iteration's residual
(``focusflow.kernels.verify``). A run that hits the cap commits nothing and penalises the
proposer; the chain goes on, and the next block warm-starts from where π got to.

Δ-rank: each block's change of the quantised π is streamed (``StreamDelta``); at most
every ``graph_write_ms`` (6 s, the seed's cadence) the changed shards' whole slices are
written to ``/graph`` (``WriteGraph`` of the state actor's ``FocusSlice``).

Faults: a worker that comes back (``Hello`` with a new incarnation, rebuilt from the
store) opens a new epoch: every shard restarts round 0 from the π it holds, which the
iteration forgets (it converges from any start), so the committed π is the same fixed
point within ε. A stalled round (a lost message) is retransmitted after
``retransmit_ms``; receivers make every message idempotent.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from focusflow.actors.rank.effects import Penalty, Publish, Send, StreamDelta, WriteGraph
from focusflow.actors.rank.messages import (
    Committed,
    Go,
    Hello,
    ProtocolError,
    RankBlock,
    Report,
    ShardDelta,
    Slice,
    Start,
    Stop,
)
from focusflow.actors.rank.store import RankStore
from focusflow.actors.state import FocusSlice
from focusflow.kernels import Commitment, EdgeDelta, FocusParams, Verdict, verify

GRAPH_WRITE_MS_DEFAULT = 6_000.0  # Δ-rank on-chain every 6 s; streamed in between
RETRANSMIT_MS_DEFAULT = 250.0
BLOCKS_QUEUED_MAX = 64
EPOCHS_PER_BLOCK_MAX = 64  # restarts of one block before the coordinator gives up on it


@dataclass
class BlockOutcome:
    """What one block's computation produced (kept for tests and the CLI)."""

    height: int
    pi: np.ndarray
    root: bytes
    converged: bool
    iterations: int
    residual: float
    epochs: int
    verdict: Verdict | None
    residuals: list[float] = field(default_factory=list)


class CoordinatorCore:
    """Drives S shard cores through the rounds of each block (no I/O)."""

    def __init__(self, store: RankStore, *, params: FocusParams | None = None,
                 proposer: str = "self", epoch_base: int = 0,
                 graph_write_ms: float = GRAPH_WRITE_MS_DEFAULT,
                 retransmit_ms: float = RETRANSMIT_MS_DEFAULT,
                 verify_commit: bool = True) -> None:
        assert graph_write_ms > 0 and retransmit_ms > 0 and epoch_base >= 0
        self.store = store
        self.shards = store.shards
        self.params = params or FocusParams()
        if self.params.teleport is not None:
            raise ValueError("sharded focus supports the uniform teleport only")
        self.proposer = proposer
        self.graph_write_ns = int(graph_write_ms * 1e6)
        self.retransmit_ns = int(retransmit_ms * 1e6)
        self.verify_commit = verify_commit
        self.epoch = epoch_base
        self.phase = "idle"  # idle → iterating → collecting → idle
        self.round = 0
        self.height = store.height
        self._queue: deque[tuple[Any, ...]] = deque()
        self._deltas: list[list[ShardDelta]] = []
        self._reports: dict[int, Report] = {}
        self._slices: dict[int, dict[int, Slice]] = {}
        self._last_go: Go | None = None
        self._stop: Stop | None = None
        self._progress_ns = 0
        self._epochs = 0
        self._residuals: list[float] = []
        self._incarnations: dict[int, int] = {}  # latest Hello per shard
        self._members: dict[int, int] = {}  # shard -> incarnation reporting in this epoch
        self.backends: dict[int, str] = {}
        self._written_q: np.ndarray | None = None
        self._streamed_q: np.ndarray | None = None
        self._written_ns: int | None = None
        self.outcomes: list[BlockOutcome] = []
        #: Called with each outcome while the store is still at that block's height
        #: (tests and the simulator compare with the single kernel there).
        self.observer: Callable[[BlockOutcome, RankStore], None] | None = None
        self.outcomes_kept_max = 16
        self.stats = {"retransmits": 0, "epochs": 0, "penalties": 0, "restarts_seen": 0,
                      "graph_writes": 0, "streams": 0}

    # -- inputs ---------------------------------------------------------------------------
    def begin(self, now_ns: int) -> list[Any]:
        """Compute π for the store as it is (genesis, or after a coordinator restart)."""
        assert self.phase == "idle"
        self._deltas = []
        self.height = self.store.height
        self._epochs = 0
        self._residuals = []
        if self.store.n == 0:
            return self._empty(now_ns)
        return self._start_epoch(now_ns)

    def block(self, blk: RankBlock, stakes: Mapping[bytes, float], now_ns: int) -> list[Any]:
        """Queue one block given as a ``RankBlock`` (flat arrays) plus changed stakes."""
        n = len(blk.sign)
        return self.block_arrays(blk.height, blk.neuron.reshape(n, 20), blk.src.reshape(n, 36),
                                 blk.dst.reshape(n, 36), blk.sign, stakes, now_ns)

    def block_arrays(self, height: int, neuron: np.ndarray, src: np.ndarray, dst: np.ndarray,
                     sign: np.ndarray, stakes: Mapping[bytes, float], now_ns: int) -> list[Any]:
        """Queue one block of the state actor's link deltas ((n, 20) neuron and (n, 36) CID
        rows, ±1 signs) and stake changes; starts it at once when idle. Raises
        OverflowError when BLOCKS_QUEUED_MAX blocks wait (backpressure for the caller)."""
        stakes = dict(stakes)
        return self._enqueue(height, lambda: self.store.apply_block(height, neuron, src, dst,
                                                                     sign, stakes), now_ns)

    def edge_block(self, height: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray,
                   now_ns: int) -> list[Any]:
        """Queue one block of plain weighted edges (global ids; weights add up), for
        edge-file graphs and the benchmark. Raises OverflowError as :meth:`block_arrays`."""
        return self._enqueue(height, lambda: self.store.apply_edges(height, src, dst, weight),
                             now_ns)

    def _enqueue(self, height: int, apply: Callable[[], EdgeDelta], now_ns: int) -> list[Any]:
        """Queue a block. Raises ValueError when it does not extend the last one queued
        (or the store), OverflowError when BLOCKS_QUEUED_MAX wait."""
        if len(self._queue) >= BLOCKS_QUEUED_MAX:
            raise OverflowError(f"{BLOCKS_QUEUED_MAX} blocks already wait for rank")
        last = self._queue[-1][0] if self._queue else self.store.height
        if height != last + 1:
            raise ValueError(f"block {height} does not extend height {last}")
        self._queue.append((height, apply))
        return self._next(now_ns) if self.phase == "idle" else []

    def receive(self, msg: Any, now_ns: int) -> list[Any]:
        """A shard's Report, Slice or Hello. Raises ProtocolError for anything else."""
        if isinstance(msg, Report):
            return self._on_report(msg, now_ns)
        if isinstance(msg, Slice):
            return self._on_slice(msg, now_ns)
        if isinstance(msg, Hello):
            return self._on_hello(msg, now_ns)
        raise ProtocolError(f"the coordinator does not take {type(msg).__name__}")

    def tick(self, now_ns: int) -> list[Any]:
        """Retransmit the current phase's messages when nothing moved for a while."""
        if self.phase == "idle" or now_ns - self._progress_ns < self.retransmit_ns:
            return []
        self._progress_ns = now_ns
        self.stats["retransmits"] += 1
        out: list[Any] = []
        for s in range(self.shards):
            out.extend(self._for_shard(s))
        return out

    # -- blocks and epochs -------------------------------------------------------------
    def _next(self, now_ns: int) -> list[Any]:
        if not self._queue:
            return []
        height, apply = self._queue.popleft()
        delta = apply()
        self._deltas = self.store.route(delta)
        self.height = height
        self._epochs = 0
        self._residuals = []
        if self.store.n == 0:
            return self._empty(now_ns)
        return self._start_epoch(now_ns)

    def _empty(self, now_ns: int) -> list[Any]:
        """A block on a graph without particles: π is empty, trivially converged."""
        root = Commitment.of(np.zeros(0)).root
        outcome = BlockOutcome(self.height, np.zeros(0), root, True, 0, 0.0, 0, None)
        self.outcomes.append(outcome)
        if self.observer is not None:
            self.observer(outcome, self.store)
        return [Publish(Committed(self.height, root, True, 0, 0.0, 0)), *self._next(now_ns)]

    def _start_epoch(self, now_ns: int) -> list[Any]:
        self.epoch += 1
        self._epochs += 1
        self.stats["epochs"] += 1
        assert self._epochs <= EPOCHS_PER_BLOCK_MAX, "a block restarted too often"
        self.phase, self.round = "iterating", 0
        self._reports, self._slices = {}, {}
        self._members = {}
        self._last_go, self._stop = None, None
        self._progress_ns = now_ns
        out: list[Any] = []
        for s in range(self.shards):
            out.extend(self._for_shard(s))
        return out

    def _for_shard(self, s: int) -> list[Send]:
        """Everything shard ``s`` needs to be in the current phase (idempotent)."""
        out = [Send(s, d) for d in (self._deltas[s] if self._deltas else [])]
        out.append(Send(s, Start(self.epoch, self.height, self.store.n, self.params.damping)))
        if self._last_go is not None:
            out.append(Send(s, self._last_go))
        if self._stop is not None:
            out.append(Send(s, self._stop))
        return out

    def _on_hello(self, msg: Hello, now_ns: int) -> list[Any]:
        if not 0 <= msg.shard < self.shards:
            raise ProtocolError(f"hello from unknown shard {msg.shard}")
        before = self._incarnations.get(msg.shard)
        self._incarnations[msg.shard] = msg.incarnation
        self.backends[msg.shard] = msg.backend
        if before == msg.incarnation or self.phase == "idle":
            return []
        if before is not None:
            self.stats["restarts_seen"] += 1
        if self._members.get(msg.shard) == msg.incarnation:
            return []  # a late Hello: that incarnation already takes part in this epoch
        if self.phase == "iterating" and self.round == 0 and msg.shard not in self._members:
            return list(self._for_shard(msg.shard))  # nothing lost yet: it joins round 0
        return self._start_epoch(now_ns)  # its round state is gone: start the block over

    def _on_report(self, msg: Report, now_ns: int) -> list[Any]:
        if msg.epoch != self.epoch or self.phase == "idle":
            return []
        if not 0 <= msg.shard < self.shards:
            raise ProtocolError(f"report from unknown shard {msg.shard}")
        member = self._members.get(msg.shard)
        if member is not None and member != msg.incarnation:
            # another incarnation of that shard (its Hello may have been lost): the one
            # that took part is gone with its round state, start the block over
            self.stats["restarts_seen"] += 1
            return self._start_epoch(now_ns)
        if self.phase != "iterating" or msg.round != self.round:
            return []
        self._members[msg.shard] = msg.incarnation
        self._reports[msg.shard] = msg
        self._progress_ns = now_ns
        if len(self._reports) < self.shards:
            return []
        reports = [self._reports[s] for s in range(self.shards)]  # fixed order: same sums
        t = self.round
        residual = sum(r.residual for r in reports) if t else math.inf
        dangling = sum(r.dangling for r in reports)
        total = sum(r.total for r in reports)
        if t:
            self._residuals.append(residual)
        self._reports = {}
        if t and residual < self.params.eps:
            return self._halt(converged=True)
        if (t >= self.params.iterations_max or (t and not math.isfinite(residual))
                or not total > 0):
            return self._halt(converged=False)
        self._last_go = Go(self.epoch, t, dangling, 1.0 / total)
        self.round = t + 1
        return [Send(s, self._last_go) for s in range(self.shards)]

    def _halt(self, *, converged: bool) -> list[Any]:
        self.phase = "collecting"
        self._stop = Stop(self.epoch, self.round, converged)
        return [Send(s, self._stop) for s in range(self.shards)]

    def _on_slice(self, msg: Slice, now_ns: int) -> list[Any]:
        if msg.epoch != self.epoch or self.phase != "collecting":
            return []
        if not 0 <= msg.shard < self.shards or not 0 <= msg.part < msg.parts:
            raise ProtocolError(f"slice part {msg.part}/{msg.parts} of shard {msg.shard}")
        self._slices.setdefault(msg.shard, {})[msg.part] = msg
        self._progress_ns = now_ns
        for s in range(self.shards):
            parts = self._slices.get(s)
            if not parts or len(parts) < next(iter(parts.values())).parts:
                return []
        return self._finalize(now_ns)

    # -- commit ---------------------------------------------------------------------------
    def _assemble(self) -> np.ndarray:
        pi = np.zeros(self.store.n)
        for s in range(self.shards):
            parts = self._slices[s]
            values = np.concatenate([parts[p].values for p in sorted(parts)])
            members = self.store.members(s)
            if len(values) != len(members):
                raise ProtocolError(f"shard {s} sent {len(values)} values for {len(members)}")
            pi[members] = values
        return pi

    def _finalize(self, now_ns: int) -> list[Any]:
        assert self._stop is not None
        converged = self._stop.converged
        raw = self._assemble()
        total = raw.sum()
        pi = raw / total if total > 0 else raw
        out: list[Any] = []
        root, verdict = b"", None
        if converged:
            commitment = Commitment.of(pi)
            root = commitment.root
            self.store.committed_pi = pi
            if self.verify_commit:
                verdict = self.judge(commitment)
                if not verdict.accepted:
                    out.append(self._penalty(f"own π failed verification: {verdict.reason}"))
            out.extend(self._delta_rank(commitment.q, now_ns))
        else:
            out.append(self._penalty(f"π did not converge within {self.params.iterations_max}"
                                     f" iterations (residual {self._residuals[-1]:.3e})"
                                     if self._residuals else "π did not converge"))
        residual = self._residuals[-1] if self._residuals else 0.0
        outcome = BlockOutcome(self.height, pi, root, converged, self._stop.round, residual,
                               self._epochs, verdict, list(self._residuals))
        self.outcomes.append(outcome)
        del self.outcomes[:-self.outcomes_kept_max]
        if self.observer is not None:
            self.observer(outcome, self.store)
        out.append(Publish(Committed(self.height, root, converged, self._stop.round, residual,
                                     self._epochs)))
        self.phase = "idle"
        return out + self._next(now_ns)

    def judge(self, commitment: Commitment) -> Verdict:
        """Verify a proposer's committed π against the store by its residual (one
        iteration, ``focusflow.kernels.verify``): what every other validator runs."""
        return verify(self.store.graph, commitment, eps=self.params.eps,
                      params=FocusParams(damping=self.params.damping, eps=self.params.eps))

    def judge_proposal(self, proposer: str, commitment: Commitment, *,
                       converged: bool) -> list[Any]:
        """Effects of checking another proposer's block π: a Penalty when its run did
        not converge within the cap or its π fails the residual check, else nothing."""
        if not converged:
            return [Penalty(proposer, self.height, "π did not converge within the cap")]
        verdict = self.judge(commitment)
        if not verdict.accepted:
            return [Penalty(proposer, self.height, verdict.reason)]
        return []

    def _penalty(self, reason: str) -> Penalty:
        self.stats["penalties"] += 1
        return Penalty(self.proposer, self.height, reason)

    def _delta_rank(self, q: np.ndarray, now_ns: int) -> list[Any]:
        """Stream the change since the last block; write changed slices every 6 s."""
        out: list[Any] = []
        prev = self._streamed_q
        changed = _changed(prev, q)
        if len(changed):
            out.append(StreamDelta(self.height, changed, q[changed]))
            self.stats["streams"] += 1
        self._streamed_q = q
        due = self._written_ns is None or now_ns - self._written_ns >= self.graph_write_ns
        if due:
            moved = _changed(self._written_q, q)
            shards = sorted(set(self.store.shard[moved].tolist()))
            out.append(WriteGraph(self.height, tuple(self._focus_slice(s, q) for s in shards)))
            self._written_q, self._written_ns = q, now_ns
            self.stats["graph_writes"] += 1
        return out

    def _focus_slice(self, shard: int, q: np.ndarray) -> FocusSlice:
        """The state actor's ``/graph/pi/<shard>`` value: CIDs sorted, fixed-point π."""
        ids = self.store.members_by_cid(shard)
        return FocusSlice(shard, self.store.key_rows[ids], q[ids])

    def invariants(self) -> None:
        """Checks the simulator calls after steps."""
        assert self.phase in ("idle", "iterating", "collecting")
        assert len(self._reports) <= self.shards
        assert self.round <= self.params.iterations_max
        if self.store.committed_pi is not None:
            assert abs(float(self.store.committed_pi.sum()) - 1.0) < 1e-9


def _changed(prev: np.ndarray | None, q: np.ndarray) -> np.ndarray:
    """Global ids whose value differs from ``prev`` (new particles count as changed)."""
    if prev is None:
        return np.flatnonzero(q != 0)
    m = min(len(prev), len(q))
    diff = np.flatnonzero(prev[:m] != q[:m])  # int64 already; no copy unless particles grew
    return diff if m == len(q) else np.concatenate([diff, np.arange(m, len(q))])
