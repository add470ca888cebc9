"""Commitment: quantisation, the merkle root, and the one-iteration verifier."""

from __future__ import annotations

import numpy as np
import pytest

from focusflow.kernels import (
    Commitment,
    CpuSolver,
    FocusParams,
    dequantize,
    merkle_root,
    quantize,
    verify,
)
from focusflow.kernels._commit import LEAF_VALUES, SCALE_BITS
from tests.kernels._graphs import random_cyberlinks


def test_quantize_round_trip_within_half_a_step() -> None:
    pi = np.random.default_rng(0).dirichlet(np.ones(5000))
    back = dequantize(quantize(pi))
    assert np.max(np.abs(back - pi)) <= 2.0 ** -(SCALE_BITS + 1) + 1e-300
    with pytest.raises(ValueError):
        quantize(np.array([0.5, np.nan]))


def test_root_changes_with_any_value_and_binds_length() -> None:
    q = quantize(np.random.default_rng(1).dirichlet(np.ones(3 * LEAF_VALUES + 5)))
    root = merkle_root(q)
    for i in (0, LEAF_VALUES, len(q) - 1):
        other = q.copy()
        other[i] += np.uint64(1)
        assert merkle_root(other) != root
    assert merkle_root(q[:-1]) != root
    assert merkle_root(np.concatenate([q, np.zeros(1, np.uint64)])) != root  # padding
    assert len(root) == 32 and merkle_root(q) == root  # deterministic


def test_domain_separation_leaf_is_not_a_root() -> None:
    q = np.arange(4, dtype=np.uint64)
    import blake3

    from focusflow.kernels._commit import LEAF_CONTEXT

    leaf = blake3.blake3(q.tobytes(), derive_key_context=LEAF_CONTEXT).digest()
    assert merkle_root(q) != leaf and merkle_root(q) != blake3.blake3(q.tobytes()).digest()


def test_verifier_accepts_a_solved_pi_and_rejects_a_perturbed_one() -> None:
    store, _, _ = random_cyberlinks(2, n=500, m=5000)
    res = CpuSolver(store, FocusParams(eps=1e-6)).solve().require_converged()
    good = Commitment.of(res.pi)
    verdict = verify(store, good, eps=1e-6)
    assert verdict.accepted, verdict
    bad_pi = res.pi.copy()
    bad_pi[[0, 1]] += np.array([1e-4, -1e-4])
    bad = verify(store, Commitment.of(np.clip(bad_pi, 0, 1)), eps=1e-6)
    assert not bad.accepted and "exceeds bound" in bad.reason


def test_verifier_rejects_wrong_root_and_wrong_length() -> None:
    store, _, _ = random_cyberlinks(3)
    pi = CpuSolver(store).solve().pi
    c = Commitment.of(pi)
    assert not verify(store, Commitment(c.q, b"\x00" * 32)).accepted
    short = Commitment.of(pi[:-1] / pi[:-1].sum())
    assert "particles" in verify(store, short).reason


def test_verifier_rejects_an_unconverged_pi() -> None:
    store, _, _ = random_cyberlinks(4)
    early = CpuSolver(store, FocusParams(eps=1e-12, iterations_max=2)).solve()
    assert not early.converged
    assert not verify(store, Commitment.of(early.pi), eps=1e-6).accepted
