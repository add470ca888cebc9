"""Crash durability of the rollup nodes other than hubs: sequencer, DA grid, watcher.

The core test replays a sequencer's logged transitions into a fresh core and checks it
ends in the same state and makes the same next claim as the core that never crashed.
The simulator tests crash nodes with ``Simulation.crash_node`` (unsynced disk writes
are lost) mid-run and restart them: every restarted sequencer must come back with
exactly what it had committed (``crashed_nodes_resume_exactly``, checked 50 ms after
each restart), the DA grid with every square, and the run must still merge every
honest claim once, keep π consistent and slash the liar.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from focusflow.actors.hub import actor as hub_actor
from focusflow.actors.hub.core import HubCore
from focusflow.actors.rollup import actor as rollup_actor
from focusflow.actors.rollup.bucket import bucket_of
from focusflow.actors.rollup.claims import OptimisticVerifier
from focusflow.actors.rollup.core import EmitClaim, PublishBatch, SequencerCore
from focusflow.actors.rollup.messages import FraudProof
from focusflow.kernels import FocusParams
from focusflow.sim.scenarios import run_scenario
from tests.rollup._helpers import FakeDa, advance, links, period

PARAMS = FocusParams(eps=1e-9)


def _state(core: SequencerCore) -> tuple[Any, ...]:
    return (core.seq, core.first_unclaimed, core.period, core.root, core.q.tobytes(),
            core.links_ordered, core.period_links, core.period_fee, dict(core.roots),
            core.graph.store.n, core.graph.links, core.retiring, core.retired)


def test_sequencer_core_replays_its_log_to_the_same_state_and_next_claim() -> None:
    rng = np.random.default_rng(5)
    bucket = bucket_of(bucket_id=b"durable")
    live = SequencerCore(bucket, b"k" * 32, params=PARAMS)
    da = FakeDa()
    log: list[tuple[str, Any]] = []  # what the shell logs: batches (blob, fee), claims
    for p in range(4):
        for _ in range(2):
            live.submit(links(rng, bucket, 30))
            for e in live.cut_batch():
                assert isinstance(e, PublishBatch)
                log.append(("batch", (e.blob, e.fee)))
                da.run(live, [e])
        if p < 3:  # the last period's batches are cut but not yet claimed at the crash
            for e in live.settle():
                assert isinstance(e, EmitClaim)
                log.append(("claim", e.claim))
    fresh = SequencerCore(bucket, b"k" * 32, params=PARAMS)
    for kind, item in log:
        if kind == "batch":
            fresh.replay_batch(*item)
        else:
            fresh.replay_claim(item)
    # data roots are not logged: the restarted shell publishes again, same blob same root
    for seq in sorted(fresh.roots):
        da.run(fresh, [PublishBatch(seq, bucket.namespace, fresh.unpublished_blob(seq))])
    assert _state(fresh) == _state(live)
    fresh.invariants()
    [a], [b] = live.settle(), fresh.settle()
    assert isinstance(a, EmitClaim) and isinstance(b, EmitClaim)
    assert a.claim == b.claim  # same period, parent, vector, batches, links and fees
    # a damaged log is refused, not silently replayed out of order
    other = SequencerCore(bucket, b"k" * 32, params=PARAMS)
    with pytest.raises(ValueError, match="does not follow"):
        other.replay_batch(log[1][1][0], 0)
    with pytest.raises(ValueError, match="does not extend"):
        other.replay_claim(next(item for kind, item in log if kind == "claim"))


def _run(seed: int, duration_ms: float = 6_500.0, **options: Any) -> dict[str, Any]:
    opts = {"rollup_links": 20, "rollup_drain_ms": 3_000.0, "duration_ms": duration_ms,
            **options}
    return run_scenario("rollups", seed, duration_ms=duration_ms, options=opts)


def test_sequencer_and_da_crashes_lose_nothing_committed() -> None:
    # every sequencer crashes twice (staggered), the DA grid twice, relayers are hostile
    # and rollup 1 lies: unsynced writes are lost at each crash (torn: a random prefix of
    # them survives, as from a disk that flushed part of its cache)
    s = _run(3, duration_ms=8_000.0, rollups=3, hubs=2, seq_crash_ms=1_500.0,
             da_crash_ms=1_700.0, relayer_faults=True, rollup_liar=1,
             rollup_drain_ms=4_000.0, torn_writes=True)
    assert s["ok"], (s["invariants"], s["violations"], s["resume_failures"], s["unmerged"])
    assert s["resumes_checked"] == 3 * 2 + 2  # each sequencer twice, the grid twice
    assert s["invariants"]["crashed_nodes_resume_exactly"]
    # the resumed chains extend what the hubs hold: every honest claim merged, once
    assert s["invariants"]["all_claims_merged"] and s["invariants"]["no_double_delivery"]
    assert s["invariants"]["global_pi_consistent"] and s["consistency_checks"] >= 3
    assert s["slashed"] == 1 and s["invariants"]["liar_slashed_only"]
    assert s["claims_merged"] > 6


def test_restarted_watcher_still_challenges_inside_the_window(monkeypatch: Any) -> None:
    # the watcher is down (500 ms) while the liar's first lying claim is notified: the
    # notice is lost, and the restarted watcher finds the claim by asking the hub
    opts = {"rollups": 3, "hubs": 1, "rollup_liar": 1, "watcher_crash_ms": 1_000.0,
            "hub_down_ms": 500.0}
    s = _run(1, **opts)
    assert s["ok"], (s["invariants"], s["violations"], s["unmerged"])
    assert s["slashed"] == 1 and s["invariants"]["liar_slashed_only"]
    assert s["invariants"]["all_claims_merged"]

    # the hub answers one claim per query: the watcher pages through the history
    monkeypatch.setattr(hub_actor, "claims_answer_max", 1)
    s = _run(1, **opts)
    assert s["ok"] and s["slashed"] == 1, (s["invariants"], s["violations"])
    monkeypatch.undo()

    # the same run with a watcher that does not re-derive its work lets the lie through
    init = rollup_actor.ChallengerActor.__init__

    def forgetful(self: Any, *args: Any, **kw: Any) -> None:
        init(self, *args, **(kw | {"hubs": ()}))

    monkeypatch.setattr(rollup_actor.ChallengerActor, "__init__", forgetful)
    s = _run(1, **opts)
    assert s["slashed"] == 0 and not s["invariants"]["liar_slashed_only"]
    assert not s["invariants"]["global_pi_consistent"]  # a lying claim was merged


def test_a_disputed_claim_waits_for_its_verdict_past_the_window() -> None:
    # the judge could not read the DA grid in time: the disputed claim is not accepted
    # when its window ends, only after the verdict (a false alarm here)
    ms = 1_000_000
    rng = np.random.default_rng(8)
    key = b"k" * 32
    core = SequencerCore(bucket_of(bucket_id=b"slow-da"), key, params=PARAMS)
    hub = HubCore("hub", verifier=OptimisticVerifier(1000.0), bonds={key: 10_000})
    da = FakeDa()
    claim = period(core, da, rng)
    hub.claim(claim, 0)
    proof = FraudProof(claim.bucket, 1, claim.root, 1.0, "watcher")
    assert hub.dispute(proof) and not hub.dispute(proof)  # once
    assert hub.disputed() == [FraudProof(claim.bucket, 1, claim.root, 0.0, "watcher")]
    advance(hub, da, 100 * ms, 5_000 * ms)  # its data is available all along
    assert claim.bucket not in hub.accepted  # past its deadline, still waiting
    assert hub.adjudicated(claim.bucket, 1, fraud=False, challenger="watcher") == []
    assert hub.disputed() == []
    hub.tick(5_001 * ms)
    assert hub.accepted[claim.bucket].period == 1


def test_a_dispute_survives_a_hub_crash_and_holds_the_claim_until_judged(
        monkeypatch: Any) -> None:
    # the judge cannot read the DA grid until 3.5 s (its fetches fail), the hub crashes
    # at 1.5 s with the liar's claim disputed, and the claim's window (re-opened by the
    # restart) ends before 3.5 s: the dispute is in the hub's log, so the restarted hub
    # holds the claim past its window, judges it once the data is readable, and slashes
    adjudicate = hub_actor.HubActor._adjudicate
    put_off: list[int] = []

    async def slow_da(self: Any, adj: Any, now: int) -> bool:
        if self.ctx.now_ns() < 3_500_000_000:
            put_off.append(now)
            return False
        return await adjudicate(self, adj, now)

    monkeypatch.setattr(hub_actor.HubActor, "_adjudicate", slow_da)
    s = _run(2, rollups=3, hubs=1, rollup_liar=1, hub_crash_ms=1_500.0)
    assert put_off and min(put_off) < 1_500_000_000  # disputed before the crash
    assert s["hub_restarts"] >= 1
    assert s["ok"], (s["invariants"], s["violations"], s["unmerged"])
    assert s["slashed"] == 1 and s["invariants"]["liar_slashed_only"]
