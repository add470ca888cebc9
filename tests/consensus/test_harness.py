"""Whole-protocol runs through the deterministic harness (fake network, virtual time).

Safety is checked inside the harness after every step (agreement of finalized blocks,
validity of finalized transactions); these tests add liveness and the fallback switch.
"""

from __future__ import annotations

import random

import pytest

from focusflow.actors.consensus.harness import BEHAVIOURS, Harness, Scenario, headers_unique_across


def _byzantine(rng: random.Random, n: int) -> tuple[tuple[int, tuple[str, ...]], ...]:
    f = (n - 1) // 3
    chosen = rng.sample(range(n), f)
    mixes = [b for b in BEHAVIOURS if b != "silent"]
    return tuple(sorted((i, tuple(sorted(rng.sample(mixes, rng.randint(1, 3))))) for i in chosen))


def _run(sc: Scenario) -> tuple[Harness, dict[str, object]]:
    h = Harness(sc)
    r = h.run()
    assert r.agreement and r.validity, sc.repro()
    assert headers_unique_across(h), sc.repro()
    return h, r.summary()


@pytest.mark.parametrize(
    ("n", "seed"),
    [(4, s) for s in range(6)] + [(7, s) for s in range(3)] + [(10, 0)],
)
def test_byzantine_minority_cannot_break_agreement_and_progress_continues(n: int, seed: int) -> None:
    rng = random.Random(seed * 31 + n)
    sc = Scenario(
        validators=n,
        seed=seed,
        duration_ms=4000 if n < 10 else 2500,
        drop_rate=rng.choice([0.0, 0.02]),
        jitter_ms=rng.choice([5.0, 40.0]),
        byzantine=_byzantine(rng, n),
        tx_rate_per_s=100,
    )
    _, s = _run(sc)
    assert s["finalized_height"] >= 2, sc.repro()
    assert s["links_committed"] > 0, sc.repro()


@pytest.mark.parametrize("n", [4, 7])
def test_partition_without_quorum_stalls_then_heals(n: int) -> None:
    side = tuple(range(n // 2))  # neither side holds the quorum stake
    sc = Scenario(validators=n, seed=5, duration_ms=6000, partitions=((1000, 3000, side),), tx_rate_per_s=100)
    h = Harness(sc)
    heights_at: dict[str, list[int]] = {}
    # run to the middle of the partition, then to the end
    mid = Harness(Scenario(**{**sc.__dict__, "duration_ms": 2900}))
    r_mid = mid.run()
    r = h.run()
    assert r.agreement and r.validity
    heights_at["mid"] = [mid.nodes[i].finalized_height for i in mid.honest]
    heights_at["end"] = [h.nodes[i].finalized_height for i in h.honest]
    before = Harness(Scenario(**{**sc.__dict__, "duration_ms": 1400})).run().finalized_height
    assert r_mid.finalized_height <= before + 2, "no quorum on either side: (almost) no progress"
    assert min(heights_at["end"]) >= r_mid.finalized_height + 3, "progress resumes after healing"


def test_majority_side_progresses_during_a_partition_and_minority_catches_up() -> None:
    sc = Scenario(validators=7, seed=2, duration_ms=6000, partitions=((500, 3500, (0, 1)),), tx_rate_per_s=100)
    h, _ = _run(sc)
    heights = [h.nodes[i].finalized_height for i in h.honest]
    assert max(heights) - min(heights) <= 2, heights


def test_crashed_validator_restarts_and_catches_up() -> None:
    sc = Scenario(validators=4, seed=3, duration_ms=6000, crashes=((2, 1000, 3000),), tx_rate_per_s=100)
    h, _ = _run(sc)
    heights = [n.finalized_height for n in h.nodes]
    assert min(heights) >= max(heights) - 2 and min(heights) >= 5, heights


def test_fallback_engages_under_attack_and_fast_path_resumes() -> None:
    """Two Byzantine validators, consecutive leaders, withhold their anchors: the fast
    path times out twice in a row, Snowball decides an anchor, and the fast path is back."""
    sc = Scenario(
        validators=7,
        seed=4,
        duration_ms=8000,
        byzantine=((5, ("withhold",)), (6, ("withhold",))),
        tx_rate_per_s=100,
    )
    h = Harness(sc)
    r = h.run()
    assert r.agreement and r.validity
    assert r.commits_via.get("fallback", 0) >= 1, r.summary()
    to_fallback = [t for t, node, mode, _ in r.mode_changes if mode == "fallback" and node in h.honest]
    to_fast = [t for t, node, mode, _ in r.mode_changes if mode == "fast" and node in h.honest]
    assert to_fallback and to_fast
    first_fallback_commit = min(r.fallback_commit_times_ms)
    assert any(t > first_fallback_commit for t in r.fast_commit_times_ms), "fast path resumed"


def test_equivocation_is_reported_with_evidence_and_never_certified_twice() -> None:
    sc = Scenario(validators=4, seed=9, duration_ms=3000, byzantine=((1, ("equivocate", "double_vote")),))
    h, _ = _run(sc)
    assert h.result.misbehaviour.get("equivocation", 0) > 0


def test_invalid_signatures_are_rejected_and_blamed() -> None:
    sc = Scenario(validators=4, seed=8, duration_ms=3000, byzantine=((0, ("bad_sig",)),))
    h, s = _run(sc)
    assert h.result.misbehaviour.get("bad-signature", 0) > 0
    assert s["finalized_height"] >= 3


def test_same_seed_same_run() -> None:
    sc = Scenario(validators=4, seed=11, duration_ms=2000, drop_rate=0.05, byzantine=((2, ("equivocate",)),))
    a, b = Harness(sc).run(), Harness(sc).run()
    assert a.finality_ms == b.finality_ms and a.events == b.events


def test_restart_after_a_crash_resumes_its_own_timers() -> None:
    """Validator 2 crashes while collecting votes; nobody else needs to talk to it for a
    while, so only its own (long past) resend deadline can wake it up."""
    sc = Scenario(
        validators=4,
        seed=29,
        jitter_ms=1.0,
        drop_rate=0.05,
        duration_ms=8000,
        byzantine=((0, ("withhold",)),),
        partitions=((607, 930, (0,)),),
        crashes=((2, 226, 1327),),
        tx_rate_per_s=50,
    )
    _, s = _run(sc)
    assert s["finalized_height"] >= 3, s


@pytest.mark.parametrize(("seed", "restart_ms"), [(0, 2000), (1, 10_000)])
def test_a_restarted_validator_resumes_on_the_synced_chain_and_signs_again(seed: int, restart_ms: int) -> None:
    """Issue 8: validator 3 loses its memory and resumes on the chain the others finalized
    (what the live node does after SIGKILL and block sync), above its persisted signing
    watermark. Its share must appear in later notarisations, and nobody may see it sign
    anything twice (equivocation, double vote, conflicting block share). At 10 s the
    others have garbage-collected the rounds below their anchor; a resumed DAG floor below
    theirs left every synced certificate waiting for a parent nobody could send."""
    sc = Scenario(validators=4, seed=seed, duration_ms=restart_ms + 2000, restarts=((3, restart_ms),),
                  tx_rate_per_s=100, drop_rate=0.01)
    h, _ = _run(sc)
    resumed = h.resumed_at[3]
    assert resumed > 0, sc.repro()
    signed_after = [k for k, v in h.signers_at.items() if k > resumed and 3 in v]
    assert len(signed_after) >= 3, (signed_after, sc.repro())
    assert h.result.finalized_heights[3] > resumed + 3, sc.repro()
    assert not h.result.misbehaviour, (h.result.misbehaviour, sc.repro())
