"""Bostrom mode (go-cyber x/rank): hand-worked examples and scalar/vectorised bit equality."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.kernels import ConvergenceError, bostrom_rank, bostrom_rank_scalar

D = 0.85


def bits(a: np.ndarray) -> list[int]:
    return np.asarray(a, dtype=np.float64).view(np.uint64).tolist()


def test_hand_worked_three_particles() -> None:
    # neuron 0: stake 10, links 0→1 and 0→2 (ŝ = 10 // 2 = 5); neuron 1: stake 7, link 1→2.
    # W(0→1) = W(0→2) = 5, W(1→2) = 7; Out(0) = 10, Out(1) = 7: w = 0.5, 0.5, 1.0.
    # Particle 0 has no in-links: Dn = 1.
    r0 = (1.0 - D) / 3.0
    c = float(D * (r0 * (1.0 / 3.0))) + r0
    # step 1 (prev = r0 everywhere); sources in ascending order, ksum = r·w + ksum
    r1 = (r0 * 0.5 + 0.0) * D + c
    r2 = (r0 * 1.0 + (r0 * 0.5 + 0.0)) * D + c
    # step 2: particle 1 only depends on r0; particle 2 sees the new r1
    r2b = (r1 * 1.0 + (r0 * 0.5 + 0.0)) * D + c
    # step 3 changes nothing (max change 0 ≤ 1e-3): the loop stops after 3 steps
    expected = [r0, r1, r2b]
    assert r2 != r2b
    assert abs(r1 - 0.0854166666) < 1e-9 and abs(r2b - 0.1580208333) < 1e-9
    for fn in (bostrom_rank, bostrom_rank_scalar):
        res = fn(3, [0, 0, 1], [0, 0, 1], [1, 2, 2], {0: 10, 1: 7})
        assert res.steps == 3
        assert bits(res.values) == bits(expected)
        assert res.ranks.tolist() == [int(x * 1e15) for x in expected]
        assert res.ranks.tolist() == [50000000000000, 85416666666666, 158020833333333]


def test_zero_stake_links_are_skipped_but_count_as_in_links() -> None:
    # neuron 2 has stake 0: its link 2→0 has W = 0 and is skipped, yet particle 0 now has
    # an in-link, so Dn = 0 and particle 0 gets ksum·d + c = c instead of staying at r0.
    res = bostrom_rank(3, [0, 0, 1, 2], [0, 0, 1, 2], [1, 2, 2, 0], {0: 10, 1: 7, 2: 0})
    r0 = (1.0 - D) / 3.0
    c = float(D * (r0 * (0.0 / 3.0))) + r0
    assert bits(res.values[:1]) == bits([0.0 * D + c])


def test_integer_division_of_stake_and_truncated_output() -> None:
    # stake 10 over 3 links: 3 each (1 lost); Out(0) = 9, w = 3/9 each
    a = bostrom_rank(4, [0, 0, 0], [0, 0, 0], [1, 2, 3], {0: 10})
    b = bostrom_rank(4, [0, 0, 0], [0, 0, 0], [1, 2, 3], {0: 9})
    assert bits(a.values) == bits(b.values)
    assert np.all(a.ranks == np.floor(a.values * 1e15).astype(np.uint64))


def test_empty_inputs_follow_go_cyber() -> None:
    assert len(bostrom_rank(0, [], [], [], {0: 1}).ranks) == 0
    assert len(bostrom_rank(3, [0], [0], [1], {}).ranks) == 0  # no stakes: empty rank


def test_iteration_cap_raises() -> None:
    with pytest.raises(ConvergenceError):
        bostrom_rank(3, [0, 0, 1], [0, 0, 1], [1, 2, 2], {0: 10, 1: 7}, tolerance=-1.0,
                     iterations_max=5)


def test_non_integer_stake_is_rejected() -> None:
    with pytest.raises(ValueError, match="integers"):
        bostrom_rank(2, [0], [0], [1], {0: 1.5})


link = st.tuples(st.integers(0, 4), st.integers(0, 14), st.integers(0, 14))


@settings(max_examples=60, deadline=None)
@given(links=st.lists(link, min_size=1, max_size=80),
       stakes=st.dictionaries(st.integers(0, 4), st.integers(0, 2**64 - 1), min_size=1),
       tol=st.sampled_from([1e-3, 1e-6, 1e-9]))
def test_vectorised_equals_scalar_bit_for_bit(links, stakes, tol) -> None:
    u, s, d = (np.array([x[i] for x in links]) for i in range(3))
    a = bostrom_rank(15, u, s, d, stakes, tolerance=tol)
    b = bostrom_rank_scalar(15, u, s, d, stakes, tolerance=tol)
    assert a.steps == b.steps
    assert bits(a.values) == bits(b.values)
    assert a.ranks.tolist() == b.ranks.tolist()


def test_vectorised_equals_scalar_on_a_power_law_graph() -> None:
    # long rows exercise the sequential tail (add.accumulate) path
    rng = np.random.default_rng(3)
    n, m = 400, 6000
    u, s = rng.integers(0, 50, m), rng.integers(0, n, m)
    d = (rng.zipf(1.3, m) - 1) % n
    stakes = {i: int(rng.integers(0, 10**12)) for i in range(50)}
    a = bostrom_rank(n, u, s, d, stakes, tolerance=1e-9)
    b = bostrom_rank_scalar(n, u, s, d, stakes, tolerance=1e-9)
    assert a.steps == b.steps and bits(a.values) == bits(b.values)
