"""Sampling: the stated detection rate holds empirically; the sampler core decides correctly."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focusflow.actors.da.core import (
    DaSamplerCore,
    Misbehaviour,
    RequestSample,
    SamplerConfig,
    SetTimer,
    Verdict,
)
from focusflow.actors.da.reconstruct import BadEncodingError, UnrecoverableSquareError, repair
from focusflow.actors.da.sampling import (
    choose_samples,
    detection_probability,
    samples_needed,
    unrecoverable_withholding_min,
)
from focusflow.actors.da.share import build_square, graph_namespace
from focusflow.actors.da.square import ExtendedDataSquare, Sample


def test_sixteen_samples_give_99_percent_for_every_k_up_to_128() -> None:
    for k in (1, 2, 4, 8, 16, 32, 64, 128):
        assert detection_probability(k, 16) >= 0.99
        assert detection_probability(k, 16, distinct=False) >= 0.99
        assert detection_probability(k, 16) >= detection_probability(k, 16, distinct=False)
    # The k -> infinity limit is (3/4)^16 = 1.002% miss: the bound is tight, not generous.
    assert math.isclose(
        detection_probability(10**6, 16, distinct=False), 1 - 0.75**16, rel_tol=1e-4
    )
    assert samples_needed(128, 0.99) == 16
    assert unrecoverable_withholding_min(8) == 81


def test_sample_draws_are_distinct_deterministic_and_in_range() -> None:
    cells = choose_samples(b"seed", 16, 200)
    assert len(set(cells)) == 200 and all(0 <= r < 16 and 0 <= c < 16 for r, c in cells)
    assert cells == choose_samples(b"seed", 16, 200)
    assert cells != choose_samples(b"seeD", 16, 200)
    assert sorted(choose_samples(b"x", 2, 4)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    with pytest.raises(ValueError):
        choose_samples(b"x", 2, 5)


def test_sample_draws_are_uniform() -> None:
    counts = np.zeros(64, dtype=int)
    for i in range(2_000):
        for r, c in choose_samples(i.to_bytes(4, "little"), 8, 4):
            counts[r * 8 + c] += 1
    expected = 2_000 * 4 / 64
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 120  # 63 degrees of freedom; p ~ 1e-5 threshold


K = 8


@pytest.fixture(scope="module")
def square() -> ExtendedDataSquare:
    rng = np.random.default_rng(11)
    blobs = [(graph_namespace(f"b{i}"), rng.bytes(2_000)) for i in range(12)]
    eds = ExtendedDataSquare.extend(build_square(blobs))
    assert eds.k == K
    return eds


def withheld_mask(width: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A (k+1)x(k+1) withholding at random rows/columns: the smallest that blocks repair."""
    mask = np.zeros((width, width), dtype=bool)
    mask[
        np.ix_(rng.choice(width, k + 1, replace=False), rng.choice(width, k + 1, replace=False))
    ] = True
    return mask


def run_sampler(
    core: DaSamplerCore, eds: ExtendedDataSquare, withheld: np.ndarray, height: int, seed: bytes
) -> Verdict:
    """Drive one core against a producer that answers every cell except the withheld ones."""
    now = 0
    effects = core.on_header(height, eds.data_root(), eds.width, seed, now)
    for _ in range(100):
        verdicts = [e for e in effects if isinstance(e, Verdict)]
        if verdicts:
            return verdicts[0]
        requests = [e for e in effects if isinstance(e, RequestSample)]
        timers = [e.at_ns for e in effects if isinstance(e, SetTimer)]
        effects = []
        for req in requests:
            if not withheld[req.row, req.col]:
                effects += core.on_sample(
                    req.height, req.row, req.col, eds.sample(req.row, req.col), now
                )
        if not effects and timers:
            now = max(timers)
            effects = core.tick(now)
    raise AssertionError("sampler never decided")


def test_withholding_that_blocks_repair_is_detected_at_the_stated_rate(
    square: ExtendedDataSquare,
) -> None:
    rng = np.random.default_rng(2026)
    for samples, trials in ((16, 600), (3, 600)):
        core = DaSamplerCore(
            SamplerConfig(samples=samples, retries_max=0, verdicts_kept_max=10_000)
        )
        misses = 0
        for t in range(trials):
            withheld = withheld_mask(square.width, K, rng)
            verdict = run_sampler(core, square, withheld, t, rng.bytes(16))
            misses += verdict.available
        p = detection_probability(K, samples)
        detected = 1 - misses / trials
        sigma = math.sqrt(p * (1 - p) / trials)
        assert abs(detected - p) <= 4 * sigma + 1 / trials, (samples, detected, p)
        if samples == 16:
            assert detected >= 0.99
    # And that withholding really does block reconstruction.
    withheld = withheld_mask(square.width, K, rng)
    with pytest.raises(UnrecoverableSquareError):
        repair(square.shares, ~withheld, square.dah())


def test_an_available_block_is_accepted_after_all_samples_verify(
    square: ExtendedDataSquare,
) -> None:
    core = DaSamplerCore()
    nothing = np.zeros((square.width, square.width), dtype=bool)
    verdict = run_sampler(core, square, nothing, 1, b"seed")
    assert verdict.available and verdict.samples_verified == 16
    assert core.verdict(1) == verdict and core.pending_heights() == []


def test_forged_samples_are_evidence_and_never_count(square: ExtendedDataSquare) -> None:
    core = DaSamplerCore(SamplerConfig(samples=2, retries_max=1))
    effects = core.on_header(5, square.data_root(), square.width, b"s", 0)
    req = next(e for e in effects if isinstance(e, RequestSample))
    good = square.sample(req.row, req.col)
    forged = dataclasses.replace(good, share=bytes(512))
    out = core.on_sample(5, req.row, req.col, forged, 10)
    assert (
        isinstance(out[0], Misbehaviour)
        and isinstance(out[1], RequestSample)
        and out[1].attempt == 1
    )
    out = core.on_sample(5, req.row, req.col, forged, 20)
    assert isinstance(out[-1], Verdict) and not out[-1].available
    # a sample for another cell, or unsolicited, changes nothing
    assert core.on_sample(5, req.row, req.col, good, 30) == []


def test_fraud_proof_overrides_an_available_verdict(square: ExtendedDataSquare) -> None:
    bad_shares = square.shares.copy()
    bad_shares[0, 1, 100] ^= 1
    bad = ExtendedDataSquare(bad_shares)
    core = DaSamplerCore()
    nothing = np.zeros((square.width, square.width), dtype=bool)
    verdict = run_sampler(core, bad, nothing, 9, b"lucky")
    with pytest.raises(BadEncodingError) as caught:
        repair(bad_shares, ~nothing, bad.dah())
    assert caught.value.proof is not None
    assert core.on_fraud_proof(8, caught.value.proof) == []  # unknown height
    out = core.on_fraud_proof(9, caught.value.proof)
    assert len(out) == 1 and isinstance(out[0], Verdict) and not out[0].available
    assert verdict.available or verdict.reason  # sampling alone may or may not notice
    assert core.verdict(9) == out[0]


def test_overload_and_malformed_headers_are_rejected_explicitly() -> None:
    core = DaSamplerCore(SamplerConfig(pending_heights_max=2))
    root = bytes(32)
    assert any(isinstance(e, RequestSample) for e in core.on_header(1, root, 4, b"a", 0))
    assert any(isinstance(e, RequestSample) for e in core.on_header(2, root, 4, b"b", 0))
    (over,) = core.on_header(3, root, 4, b"c", 0)
    assert isinstance(over, Verdict) and over.reason == "sampler overloaded"
    (bad,) = core.on_header(4, root, 3, b"d", 0)
    assert isinstance(bad, Verdict) and not bad.available
    assert core.on_header(1, root, 4, b"a", 0) == []
    assert core.statistics()["rejected_overload"] == 1
    core.invariants()


def test_sample_type_is_plain_data(square: ExtendedDataSquare) -> None:
    sample = square.sample(0, 0)
    assert isinstance(sample, Sample) and len(sample.row_root_proof) == math.ceil(
        math.log2(2 * square.width)
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_core_under_random_event_orders_keeps_invariants_and_decides_once(
    square: ExtendedDataSquare, data: st.DataObject
) -> None:
    """Headers, answers (good, forged, refused, duplicate, unsolicited) and ticks in any order."""
    config = SamplerConfig(samples=4, timeout_ms=10, retries_max=1, pending_heights_max=3)
    core = DaSamplerCore(config)
    root, width = square.data_root(), square.width
    now = 0
    requested: list[RequestSample] = []
    verdicts: dict[int, list[Verdict]] = {}
    for _ in range(data.draw(st.integers(5, 60))):
        action = data.draw(
            st.sampled_from(["header", "answer", "answer", "answer", "tick", "junk"])
        )
        now += data.draw(st.integers(0, 6)) * 1_000_000
        if action == "header":
            effects = core.on_header(
                data.draw(st.integers(1, 4)), root, width, data.draw(st.binary(max_size=4)), now
            )
        elif action == "answer" and requested:
            req = data.draw(st.sampled_from(requested))
            kind = data.draw(st.sampled_from(["good", "good", "forged", "refused"]))
            sample = square.sample(req.row, req.col)
            if kind == "forged":
                sample = dataclasses.replace(sample, share=bytes(512))
            effects = core.on_sample(
                req.height, req.row, req.col, None if kind == "refused" else sample, now
            )
        elif action == "junk":
            effects = core.on_sample(data.draw(st.integers(0, 9)), 0, 0, None, now)
        else:
            effects = core.tick(now)
        core.invariants()
        requested += [e for e in effects if isinstance(e, RequestSample)]
        for e in effects:
            if isinstance(e, Verdict):
                verdicts.setdefault(e.height, []).append(e)
    for _ in range(10):  # let every pending height time out
        now += 1_000_000_000
        for e in core.tick(now):
            if isinstance(e, Verdict):
                verdicts.setdefault(e.height, []).append(e)
    assert core.pending_heights() == []
    for height, decided in verdicts.items():
        assert len(decided) == 1, (height, decided)  # exactly one verdict per height
        v = decided[0]
        assert core.verdict(height) == v
        if v.available:
            assert v.samples_verified == 4


def test_a_tick_that_expires_nothing_still_rearms_the_timer(square: ExtendedDataSquare) -> None:
    core = DaSamplerCore(SamplerConfig(samples=2, timeout_ms=10, retries_max=2))
    effects = core.on_header(1, square.data_root(), square.width, b"t", 0)
    (first,) = [e for e in effects if isinstance(e, SetTimer)]
    req = next(e for e in effects if isinstance(e, RequestSample))
    core.on_sample(1, req.row, req.col, None, 5_000_000)  # a refusal pushes the deadline to 15 ms
    out = core.tick(first.at_ns)  # the originally armed timer fires at 10 ms: nothing expired
    assert not any(isinstance(e, RequestSample | Verdict) for e in out)
    assert [e for e in out if isinstance(e, SetTimer)] == [SetTimer(15_000_000)]
    assert core.next_deadline_ns() == 15_000_000
