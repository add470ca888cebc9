"""Backpressure reaches the client (issue 18 item 4): a submission the mempool refused as
overloaded is an HTTP 503 with ``Retry-After`` and the reason, and ``client.submit``
hands both back (the devnet's load driver backs off on them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from focusflow.limits import RETRY_AFTER_S
from focusflow.node import client
from focusflow.node.http import NodeApi, serve_http, submit_status
from focusflow.node.messages import SubmitReply

pytestmark = pytest.mark.anyio

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
