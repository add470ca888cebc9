"""Backpressure reaches the client (issue 18 item 4): a submission the mempool refused as
overloaded is an HTTP 503 with ``Retry-After`` and the reason, and ``client.submit``
hands both back (the devnet's load driver backs off on them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from focusflow.actors.state.tx import tx_hash_of
from focusflow.limits import RETRY_AFTER_S
from focusflow.node import client
from focusflow.node.http import NodeApi, serve_http, submit_status
from focusflow.node.messages import SubmitReply
from focusflow.topology.devnet import Workload
from tests.node.live import CHAIN, committee_homes, live_nodes

OVERLOADED = "overloaded: validator behind, focus 3 not above the queue floor 9; retry later"


async def _none() -> Any:
    return None


@pytest.fixture
async def node() -> AsyncIterator[int]:
    async def ask(msg: Any) -> SubmitReply:
        return SubmitReply(0, len(msg.txs), OVERLOADED)

    api = NodeApi(ask=ask, status=_none, metrics=_none, actors=list, ready=_none, page="")
    async with anyio.create_task_group() as tg:
        port = await tg.start(lambda task_status: serve_http("127.0.0.1", 0, api,
                                                             task_status=task_status))
        yield port
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_overloaded_refusal_is_a_503_with_retry_after_and_its_reason(node: int) -> None:
    answer = await anyio.to_thread.run_sync(
        lambda: client.submit(f"http://127.0.0.1:{node}", [b"tx one", b"tx two"], [3, 3]))
    assert answer["http_status"] == 503 and answer["retry_after_s"] == RETRY_AFTER_S
    assert answer["rejected"] == 2 and answer["reason"] == OVERLOADED


def test_submission_statuses() -> None:
    assert submit_status(SubmitReply(0, 4, OVERLOADED)) == 503
    assert submit_status(SubmitReply(0, 4, "shed: focus below the open lanes under load")) == 503
    assert submit_status(SubmitReply(3, 1, OVERLOADED)) == 200  # some were taken: 200, counts
    assert submit_status(SubmitReply(0, 1, "invalid: bad-signature: does not verify")) == 400


def test_a_validator_behind_sheds_the_lowest_focus_and_the_client_sees_it(tmp_path: Path) -> None:
    """One validator of four up: nothing is ordered, so its latency budget stays at its
    floor (64 KiB, ~17 txs of 50 links). Low-focus txs fill it; higher-focus ones evict
    them (``/v1/tx`` says ``shed``); a low one is then refused with 503 + Retry-After."""
    configs = committee_homes(tmp_path, ["a", "b", "c", "d"])
    work = Workload(chain_id=CHAIN, seed=4, links_per_tx=50)
    low, _ = work.txs(24)
    high, _ = work.txs(4)
    with live_nodes(configs[:1]) as urls:
        a = urls[0]
        first = client.submit(a, low, [10] * len(low))
        assert 0 < first["accepted"] < len(low) and first["reason"].startswith("overloaded"), first
        taken = low[:first["accepted"]]  # same focus: arrival order decides who gets in
        assert client.get(a, f"/v1/tx?arg={tx_hash_of(taken[-1]).hex()}")["status"] == "pending"
        second = client.submit(a, high, [1000] * len(high))
        assert second["accepted"] == len(high), second  # room made by evicting focus 10
        states = [client.get(a, f"/v1/tx?arg={tx_hash_of(t).hex()}") for t in taken]
        shed = [s for s in states if s["status"] == "shed"]
        assert len(shed) >= 1 and shed[0]["reason"].startswith("shed: evicted"), states
        third = client.submit(a, low[-1:], [5])
        assert third["http_status"] == 503 and third["retry_after_s"] == RETRY_AFTER_S, third
        status = client.get(a, "/status")["validator"]
        assert status["counters"]["shed"] == len(shed)
        assert status["mempool"]["in_flight_bytes"] <= status["mempool"]["budget_bytes"]
