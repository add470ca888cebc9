"""Sans-IO cores of buckets, sequencer, claims and hub, driven without any runtime."""

from __future__ import annotations

import numpy as np
import pytest

from focusflow.actors.da.share import graph_namespace
from focusflow.actors.hub.core import Adjudicate, Committed, HubCore, Rejected, Slashed
from focusflow.actors.rollup.bucket import BucketError, BucketMap, bucket_of
from focusflow.actors.rollup.claims import OptimisticVerifier, Replayer
from focusflow.actors.rollup.core import SequencerCore
from focusflow.actors.rollup.graph import union_focus
from focusflow.actors.rollup.messages import FraudProof, SubmitLinks
from focusflow.kernels import FocusParams
from tests.rollup._helpers import FakeDa, advance, period

PARAMS = FocusParams(eps=1e-9)
MS = 1_000_000


def test_explicit_bucket_id_wins_over_particle_namespace() -> None:
    ns = graph_namespace("physics")
    assert bucket_of(bucket_id=b"chess", particle_ns=ns) == bucket_of(bucket_id=b"chess")
    assert bucket_of(particle_ns=ns) != bucket_of(bucket_id=b"chess")
    assert bucket_of(particle_ns=ns).namespace != bucket_of(bucket_id=b"chess").namespace
    assert len(bucket_of(particle_ns=ns).namespace) == 29
    with pytest.raises(BucketError):
        bucket_of()
    with pytest.raises(BucketError):
        bucket_of(particle_ns=b"\xff" * 29)  # parity namespace is reserved
    m = BucketMap(4, {bucket_of(bucket_id=b"chess").key: 3})
    assert m.rollup_of(bucket_of(bucket_id=b"chess")) == 3
    assert 0 <= m.rollup_of(bucket_of(particle_ns=ns)) < 4


def test_sequencer_refuses_links_of_another_bucket() -> None:
    core = SequencerCore(bucket_of(bucket_id=b"a"), b"k" * 32, params=PARAMS)
    z = np.zeros(1, dtype=np.uint64)
    with pytest.raises(BucketError):
        core.submit(SubmitLinks(z, z, z + 1, bucket_id=b"b"))


def _hub(window_ms: float = 1000.0, **kw: object) -> HubCore:
    return HubCore("hub", verifier=OptimisticVerifier(window_ms),
                   bonds={b"honest" * 4 + b"\x00" * 8: 5000, b"liar" * 8: 5000}, **kw)  # type: ignore[arg-type]


def test_lying_sequencer_is_caught_by_reexecution_and_slashed() -> None:
    rng = np.random.default_rng(3)
    da = FakeDa()
    honest_key, liar_key = b"honest" * 4 + b"\x00" * 8, b"liar" * 8
    honest = SequencerCore(bucket_of(bucket_id=b"good"), honest_key, params=PARAMS)
    liar = SequencerCore(bucket_of(bucket_id=b"bad"), liar_key, params=PARAMS, lie=0.05,
                         lie_from=2)
    hub = _hub()
    watch = {c.bucket.key: Replayer(c.bucket.key, c.bucket.namespace, PARAMS)
             for c in (honest, liar)}
    now = 0
    slashed: list[Slashed] = []
    for _ in range(3):
        now += 500 * MS
        for core in (honest, liar):
            claim = period(core, da, rng)
            rejected = [e for e in hub.claim(claim, now) if isinstance(e, Rejected)]
            assert bool(rejected) == (claim.bucket in hub.frozen)
            if rejected:
                continue
            finding = watch[claim.bucket].check(claim, da.fetch)
            assert finding.fraud == (core is liar and claim.period >= 2)
            if finding.fraud:
                effects = hub.fraud(FraudProof(claim.bucket, claim.period, claim.root,
                                               finding.residual, "watcher"))
                [adj] = effects
                assert isinstance(adj, Adjudicate)
                judge = Replayer(claim.bucket, bucket_of(bucket_id=b"bad").namespace, PARAMS)
                for old in adj.history:
                    assert not judge.check(old, da.fetch).fraud
                verdict = judge.check(adj.claim, da.fetch)
                assert verdict.fraud and "residual" in verdict.reason
                out = hub.adjudicated(claim.bucket, claim.period, fraud=True,
                                      challenger="watcher")
                slashed += [e for e in out if isinstance(e, Slashed)]
        advance(hub, da, now - 400 * MS, now)
        hub.invariants()
    assert [s.sequencer for s in slashed] == [liar_key]
    assert hub.bonds.get(liar_key, 0) == 0 and hub.slashed[liar_key] == 5000
    assert hub.rewards["watcher"] == 2500
    # the liar's bucket stays at its last honest claim and takes no more claims
    bad = bucket_of(bucket_id=b"bad").key
    advance(hub, da, now + 100 * MS, now + 5000 * MS)
    assert hub.accepted[bad].period == 1
    assert bad in hub.frozen
    assert liar.period == 3  # its third claim was refused at receipt


def test_false_fraud_proof_changes_nothing() -> None:
    rng = np.random.default_rng(4)
    da = FakeDa()
    key = b"honest" * 4 + b"\x00" * 8
    core = SequencerCore(bucket_of(bucket_id=b"good"), key, params=PARAMS)
    hub = _hub()
    claim = period(core, da, rng)
    hub.claim(claim, 0)
    [adj] = hub.fraud(FraudProof(claim.bucket, 1, claim.root, 1.0, "troll"))
    assert isinstance(adj, Adjudicate)
    judge = Replayer(claim.bucket, core.bucket.namespace, PARAMS)
    assert not judge.check(adj.claim, da.fetch).fraud
    assert hub.adjudicated(claim.bucket, 1, fraud=False, challenger="troll") == []
    assert hub.false_alarms == 1
    advance(hub, da, 100 * MS, 2000 * MS)
    assert hub.accepted[claim.bucket].period == 1 and hub.bonds[key] == 5000


def test_merged_global_pi_equals_from_scratch_pi_of_all_buckets() -> None:
    rng = np.random.default_rng(5)
    da = FakeDa()
    key = b"honest" * 4 + b"\x00" * 8
    cores = [SequencerCore(bucket_of(bucket_id=name), key, params=PARAMS)
             for name in (b"a", b"b", b"c")]
    hub = _hub(window_ms=0.0, merge_ms=100.0)
    for step in range(3):
        for i, core in enumerate(cores):
            hub.claim(period(core, da, rng, n=40 + 30 * i), step * 200 * MS)
    [committed] = [e for e in hub.tick(10_000 * MS) if isinstance(e, Committed)] or [
        hub.merge(10_000 * MS)]
    ordered = sorted(cores, key=lambda c: c.bucket.key)
    ref = union_focus([c.graph for c in ordered], FocusParams(eps=1e-12))
    got = hub.global_pi()
    assert len(got) == len(ref)
    d = 0.85
    assert np.abs(got - ref).sum() <= 4 * d * PARAMS.eps / (1 - d)
    # a wrong mixture (equal weights) would be far off: the check can fail
    wrong = np.concatenate([c.graph.solve() / 3 for c in ordered])
    assert np.abs(wrong - ref).sum() > 1e-3
    assert committed.height >= 1


def test_fees_are_redistributed_by_demand_and_conserved() -> None:
    rng = np.random.default_rng(6)
    da = FakeDa()
    key = b"honest" * 4 + b"\x00" * 8
    a = SequencerCore(bucket_of(bucket_id=b"a"), key, params=PARAMS)
    b = SequencerCore(bucket_of(bucket_id=b"b"), key, params=PARAMS)
    hub = _hub(window_ms=0.0, merge_ms=1.0)
    hub.claim(period(a, da, rng, n=90), 0)
    hub.claim(period(b, da, rng, n=30), 0)
    hub.merge(1)
    hub.invariants()
    ca, cb = hub.credits[a.bucket.key], hub.credits[b.bucket.key]
    # demand 90 vs 30 links, 7 fee units per submit: floor shares, remainder kept
    assert (ca, cb, hub.pool) == (14 * 90 // 120, 14 * 30 // 120, 1)


def test_claim_verifier_seam_takes_a_validity_style_verifier() -> None:
    """A verifier with window 0 that checks a proof on receipt (here: re-execution
    standing in for a validity proof) accepts at once, without a challenge window."""
    rng = np.random.default_rng(7)
    da = FakeDa()
    key = b"honest" * 4 + b"\x00" * 8

    class ReexecOnReceipt:
        challenge_window_ms = 0.0

        def __init__(self) -> None:
            self.replayers: dict[bytes, Replayer] = {}

        def on_receipt(self, claim: object) -> str | None:
            from focusflow.actors.rollup.bucket import Bucket
            from focusflow.actors.rollup.messages import SupplyRank

            assert isinstance(claim, SupplyRank)
            rep = self.replayers.setdefault(
                claim.bucket, Replayer(claim.bucket, Bucket(claim.bucket).namespace, PARAMS))
            finding = rep.check(claim, da.fetch)
            return finding.reason if finding.fraud else None

    hub = HubCore("hub", verifier=ReexecOnReceipt(), bonds={key: 5000, b"liar" * 8: 5000})
    good = SequencerCore(bucket_of(bucket_id=b"good"), key, params=PARAMS)
    bad = SequencerCore(bucket_of(bucket_id=b"bad"), b"liar" * 8, params=PARAMS, lie=0.05)
    assert hub.claim(period(good, da, rng), 0) == []  # no Notify: no window
    assert hub.accepted[good.bucket.key].period == 1
    [rejected] = hub.claim(period(bad, da, rng), 0)
    assert isinstance(rejected, Rejected) and "residual" in rejected.reason
    assert bad.bucket.key not in hub.accepted
