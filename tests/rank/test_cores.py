"""Shard cores and the coordinator core driven through a fake wire (no runtime).

Every message is encoded to Cap'n Proto and decoded on delivery; the wire may reorder,
duplicate and drop, and shard cores may be replaced mid-computation by ones rebuilt from
the store.
"""

from __future__ import annotations

import numpy as np
import pytest

from focusflow.actors.rank import COORDINATOR, LocalRank, RankStore, ShardCore
from focusflow.actors.rank.coordinator import CoordinatorCore
from focusflow.actors.rank.effects import Penalty, StreamDelta, WriteGraph
from focusflow.actors.rank.messages import Go, Mass, ProtocolError, Start
from focusflow.kernels import Commitment, FocusParams, GraphStore

from ._graphs import BOUND_L1, BlockMaker, random_edges, real_edges, single, store_of


@pytest.mark.parametrize("shards", [1, 2, 4, 8])
@pytest.mark.parametrize("graph", ["random", "real"])
def test_sharded_pi_equals_the_single_kernel(shards: int, graph: str) -> None:
    edges = random_edges(shards) if graph == "random" else real_edges()
    store = store_of(edges, shards)
    out = LocalRank(store).begin()
    kernel = single(store)
    assert out.converged
    # same iteration from the same start: only float summation order differs
    assert np.abs(out.pi - kernel).sum() < 1e-12
    assert out.iterations == len(out.residuals)
    assert out.root == Commitment.of(out.pi).root
    assert out.verdict is not None and out.verdict.accepted


@pytest.mark.parametrize("shards", [2, 5, 8])
def test_reordering_duplication_and_loss_change_timing_never_the_numbers(shards: int) -> None:
    edges = random_edges(11, n=300, m=2000)
    calm = LocalRank(store_of(edges, shards)).begin()
    rough_run = LocalRank(store_of(edges, shards), seed=shards, duplicate=0.15, loss=0.1)
    rough = rough_run.begin()
    assert rough_run.coordinator.stats["retransmits"] > 0  # the faults really happened
    assert np.array_equal(calm.pi, rough.pi)
    assert calm.iterations == rough.iterations and calm.root == rough.root


@pytest.mark.parametrize("shards", [1, 3, 8])
def test_blocks_update_incrementally_and_match_the_single_kernel(shards: int) -> None:
    store = RankStore(shards)
    wire = LocalRank(store, seed=shards, duplicate=0.05, loss=0.02)
    maker = BlockMaker(shards)
    for _ in range(5):
        blk, stakes = maker.next()
        out = wire.block(blk, stakes)
        wire.invariants()
        assert out.converged and out.height == blk.height == store.height
        assert np.abs(out.pi - single(store, eps=1e-13)).sum() < BOUND_L1
        assert len(out.pi) == store.n
    assert store.height == 5 and not wire.penalties


def test_a_shard_restarted_mid_computation_rebuilds_and_pi_is_still_right() -> None:
    edges = random_edges(5, n=500, m=3000)
    store = store_of(edges, 4)
    wire = LocalRank(store, seed=9)
    victims = iter([(60, 1), (250, 3), (400, 1)])
    nxt = next(victims)

    def chaos(w: LocalRank) -> None:
        nonlocal nxt
        if nxt and w.delivered == nxt[0]:
            w.restart_shard(nxt[1])
            nxt = next(victims, None)

    wire.hooks.append(chaos)
    out = wire.begin()
    assert nxt is None  # all three restarts happened
    assert out.epochs == 4 and wire.coordinator.stats["restarts_seen"] == 3
    assert out.converged and np.abs(out.pi - single(store, eps=1e-13)).sum() < BOUND_L1
    assert out.verdict is not None and out.verdict.accepted


def test_restart_during_blocks_rebuilds_from_the_store_at_the_current_height() -> None:
    store = RankStore(3)
    wire = LocalRank(store, seed=4)
    maker = BlockMaker(4)
    for h in range(1, 5):
        blk, stakes = maker.next()
        at = wire.delivered + 100  # once per block, mid-computation
        wire.hooks[:] = [lambda w, s=h % 3, at=at: w.restart_shard(s) if w.delivered == at
                         else None]
        out = wire.block(blk, stakes)
        assert out.converged and np.abs(out.pi - single(store, eps=1e-13)).sum() < BOUND_L1
    assert wire.coordinator.stats["restarts_seen"] >= 3


def test_a_run_capped_before_convergence_commits_nothing_and_penalises_the_proposer() -> None:
    store = store_of(random_edges(2), 4)
    wire = LocalRank(store)
    wire.coordinator.params = FocusParams(iterations_max=3)
    out = wire.begin()
    assert not out.converged and out.iterations == 3 and out.root == b""
    assert store.committed_pi is None
    assert [p.reason.startswith("π did not converge") for p in wire.penalties] == [True]
    assert wire.published[-1].converged is False


def test_judge_accepts_an_honest_proposal_and_penalises_a_forged_or_capped_one() -> None:
    store = store_of(random_edges(8), 2)
    wire = LocalRank(store)
    out = wire.begin()
    coord = wire.coordinator
    honest = Commitment.of(out.pi)
    assert coord.judge_proposal("alice", honest, converged=True) == []
    forged_pi = out.pi.copy()
    forged_pi[:10] += 1e-4
    forged_pi /= forged_pi.sum()
    [penalty] = coord.judge_proposal("mallory", Commitment.of(forged_pi), converged=True)
    assert isinstance(penalty, Penalty) and penalty.proposer == "mallory"
    assert "residual" in penalty.reason
    [capped] = coord.judge_proposal("bob", honest, converged=False)
    assert capped.proposer == "bob"


def test_delta_rank_is_streamed_every_block_and_written_every_six_seconds() -> None:
    store = RankStore(2)
    coord = CoordinatorCore(store)
    shards = [ShardCore(store.shard_graph(s), 2) for s in range(2)]
    maker = BlockMaker(3)
    effects_by_block = []
    for h in range(1, 5):
        now = int(h * 2.5e9)  # blocks every 2.5 s: writes at 2.5 s, 7.5 s (not 5 s, 10 s)
        blk, stakes = maker.next()
        queue = list(coord.block(blk, stakes, now))
        seen = []
        while queue:
            e = queue.pop(0)
            if hasattr(e, "to"):
                target = coord.receive if e.to == COORDINATOR else shards[e.to].receive
                queue.extend(target(e.msg, now) if e.to == COORDINATOR else target(e.msg))
            else:
                seen.append(e)
        effects_by_block.append(seen)
    writes = [any(isinstance(e, WriteGraph) for e in seen) for seen in effects_by_block]
    streams = [any(isinstance(e, StreamDelta) for e in seen) for seen in effects_by_block]
    assert writes == [True, False, False, True] and all(streams)
    w = next(e for e in effects_by_block[3] if isinstance(e, WriteGraph))
    q = Commitment.of(coord.outcomes[-1].pi).q
    for sl in w.slices:  # whole slices, CIDs sorted, values at those particles
        assert np.all(np.diff(sl.cids.astype(np.int64), axis=0).tolist() != 0)
        rows = [bytes(r) for r in sl.cids]
        assert rows == sorted(rows)
        assert [int(q[store.index[r]]) for r in rows] == sl.values.tolist()


def test_a_shard_refuses_malformed_mass_and_drops_stale_epochs() -> None:
    store = store_of(random_edges(1, n=50, m=200), 2)
    core = ShardCore(store.shard_graph(0), 2)
    core.receive(Start(5, 0, store.n, 0.85))
    assert core.phase == "iterating" and core.epoch == 5
    bad = Mass(5, 0, 1, 0, 1, np.array([10**6], "<u4"), np.array([0.1]))
    core.receive(bad)  # buffered: its indices are checked when the round completes
    with pytest.raises(ProtocolError):
        core.receive(Go(5, 0, 0.0, 1.0))
    with pytest.raises(ProtocolError):
        core.receive(Mass(5, 0, 7, 0, 1, np.zeros(0, "<u4"), np.zeros(0)))
    with pytest.raises(ProtocolError):
        core.receive(Mass(5, 0, 1, 0, 1, np.zeros(1, "<u4"), np.array([-1.0])))
    assert core.receive(Mass(4, 0, 1, 0, 1, np.zeros(0, "<u4"), np.zeros(0))) == []
    assert core.receive(Start(4, 0, store.n, 0.85)) == []  # an older epoch
    core.invariants()


def test_coordinator_ignores_duplicate_and_stale_reports() -> None:
    store = store_of(random_edges(6, n=100, m=500), 3)
    wire = LocalRank(store, seed=1, duplicate=0.5)
    out = wire.begin()
    assert out.converged and np.abs(out.pi - single(store)).sum() < 1e-12


def test_sharded_focus_rejects_a_custom_teleport() -> None:
    with pytest.raises(ValueError):
        CoordinatorCore(RankStore(2, GraphStore(0), []),
                        params=FocusParams(teleport=np.ones(3)))


def test_a_block_that_skips_a_height_is_refused_before_it_is_queued() -> None:
    store = RankStore(2)
    wire = LocalRank(store)
    maker = BlockMaker(1)
    first, stakes = maker.next()
    wire.block(first, stakes)
    maker.next()  # height 2 is lost
    third, stakes3 = maker.next()
    with pytest.raises(ValueError):
        wire.coordinator.block(third, stakes3, 0)
    assert store.height == 1 and wire.coordinator.phase == "idle"
