"""The mempool's latency budget (issue 18 item 4, issue 21): bounded in-flight bytes,
lowest focus shed first with an explicit rejection, finality bounded under overload."""

from __future__ import annotations

from dataclasses import replace

import hypothesis.strategies as st
from hypothesis import given, settings

from focusflow.actors.consensus.crypto import DOMAIN_TX, CachingVerifier, Signer, digest
from focusflow.actors.consensus.harness import Scenario, Workload, admit_links, run
from focusflow.actors.consensus.types import ClientTx, Committee, Reject, Validator
from focusflow.actors.mempool.budget import BudgetConfig, QueueBudget
from focusflow.actors.mempool.core import DagConfig, DagCore

S = 1_000_000_000


def _dag(budget: BudgetConfig) -> DagCore:
    signers = [Signer(bytes([i + 1]) * 32) for i in range(4)]
    com = Committee(tuple(Validator(i, s.public_key, 1) for i, s in enumerate(signers)))
    verifier = CachingVerifier()
    return DagCore(committee=com, me=0, signer=signers[0], verifier=verifier,
                   admit_batch=admit_links(verifier),  # type: ignore[arg-type]
                   config=DagConfig(budget=budget))


def _with_focus(txs: list[ClientTx], focus: list[int]) -> list[ClientTx]:
    return [ClientTx(t.payload, f, t.client) for t, f in zip(txs, focus, strict=True)]


def test_over_the_budget_the_lowest_focus_is_shed_and_arrivals_below_the_floor_refused() -> None:
    size = 168  # one harness link tx
    dag = _dag(BudgetConfig(queue_delay_ms=1000, queue_bytes_min=4 * size))
    work = Workload(2, 7)
    first = _with_focus(work.make(4), [10, 20, 30, 40])
    assert [e for e in dag.submit(first, S) if isinstance(e, Reject)] == []
    assert dag.budget.in_flight_bytes == 4 * size
    # two higher arrivals evict the two lowest queued (10, 20); a low one is refused
    later = _with_focus(work.make(3), [50, 60, 5])
    rejects = [e for e in dag.submit(later, S) if isinstance(e, Reject)]
    shed = sorted(r.focus for r in rejects if r.reason.startswith("shed:"))
    refused = [r for r in rejects if r.reason.startswith("overloaded:")]
    assert shed == [10, 20]
    assert [r.focus for r in refused] == [5] and "retry later" in refused[0].reason
    assert sorted(t.focus for t in dag.pending) == [30, 40, 50, 60]
    assert dag.budget.in_flight_bytes == 4 * size  # the bound holds
    assert dag.stats["txs_evicted"] == 2 and dag.stats["txs_overloaded"] == 1
    # an arrival equal to the floor does not evict it (ties stay with the queued tx)
    tie = _with_focus(work.make(1), [30])
    assert [r.reason.split(":")[0] for r in dag.submit(tie, S) if isinstance(r, Reject)] == ["overloaded"]


def test_the_budget_follows_the_measured_wait() -> None:
    size = 168
    dag = _dag(BudgetConfig(queue_delay_ms=1000, queue_bytes_min=2 * size))
    work = Workload(2, 3)
    txs = work.make(2)
    dag.submit(txs, 0)
    assert dag.budget.budget == 2 * size and dag.budget.in_flight_bytes == 2 * size
    dag.ordered([t.payload for t in txs], S // 2)  # waited 0.5 s < 1 s, budget was full: grow
    assert dag.budget.in_flight_bytes == 0 and dag.budget.budget == int(2 * size * 1.25)
    grown = dag.budget.budget
    more = work.make(2)
    dag.submit(more, S)
    dag.ordered([t.payload for t in more], 5 * S)  # waited 4 s: shrink (at most by half)
    assert dag.budget.budget == max(2 * size, grown // 2)
    assert dag.budget.rate_bytes_per_s(5 * S) > 0


def test_no_budget_admits_everything_as_before() -> None:
    dag = _dag(BudgetConfig(queue_delay_ms=0, queue_bytes_min=1))
    txs = Workload(2, 5).make(50)
    assert [e for e in dag.submit(txs, 0) if isinstance(e, Reject)] == []


@settings(max_examples=60, deadline=None)
@given(queue=st.lists(st.tuples(st.integers(0, 20), st.integers(1, 50)), max_size=30),
       arrivals=st.lists(st.tuples(st.integers(0, 20), st.integers(1, 50)), max_size=30),
       budget=st.integers(1, 600))
def test_plan_sheds_lowest_first_and_keeps_the_bound(queue: list[tuple[int, int]],
                                                     arrivals: list[tuple[int, int]],
                                                     budget: int) -> None:
    b = QueueBudget(BudgetConfig(queue_delay_ms=1000, queue_bytes_min=budget))
    for i, (_, size) in enumerate(queue):
        b.admitted(digest(DOMAIN_TX, bytes([i])), size, 0)
    before = b.in_flight_bytes
    plan = b.plan(arrivals, queue)
    evicted = set(plan.evict)
    kept = [queue[i] for i in range(len(queue)) if i not in evicted]
    admitted = [a for a, ok in zip(arrivals, plan.admit, strict=True) if ok]
    after = before - sum(queue[i][1] for i in evicted) + sum(s for _, s in admitted)
    if admitted:  # the bound: nothing is admitted past the budget
        assert after <= budget
    if evicted:  # never shed above the floor while lower remains; only for higher arrivals
        worst = max(queue[i][0] for i in evicted)
        assert all(f >= worst for f, _ in kept)
        assert min(f for f, _ in admitted) > worst  # nothing at or below an evicted focus
    assert len(evicted) == len(plan.evict)


def test_finality_stays_bounded_at_five_times_capacity() -> None:
    """Execution costs 5 ms per tx (capacity ~200 tx/s), clients offer 1000 tx/s: without
    the budget finality grows with the blocks; with it p99 stays near the target."""
    base = Scenario(seed=3, latency_ms=10, jitter_ms=2, duration_ms=8000, tx_rate_per_s=1000,
                    exec_us_per_tx=5000, queue_bytes_min=2000)
    without = run(replace(base, queue_delay_ms=0))
    bounded = run(replace(base, queue_delay_ms=1000))
    assert without.agreement and without.validity and bounded.agreement and bounded.validity
    assert bounded.percentile_ms(99) < 2000 < without.percentile_ms(99)
    assert bounded.links_committed >= 0.9 * without.links_committed  # capacity kept
    assert bounded.rejections > without.rejections  # the rest was refused, explicitly
