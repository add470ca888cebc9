"""The HTTP server's door (issue 16, findings 8 and 12): heads, bodies and lengths are
refused before they are read, each with a status and a specific reason; slow clients time
out; a flood of bodies is bounded by the in-flight budget."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from focusflow.limits import HTTP_BODY_BYTES_MAX, HTTP_HEAD_BYTES_MAX
from focusflow.node import http as http_mod
from focusflow.node.http import BodyBudget, serve_http

pytestmark = pytest.mark.anyio


class Echo:
    """A handler that reports what reached it (the server's checks ran before)."""

    def __init__(self) -> None:
        self.bodies: list[int] = []

    async def __call__(self, method: str, path: str, query: dict[str, list[str]],
                       body: bytes) -> tuple[int, str, bytes]:
        self.bodies.append(len(body))
        return 200, "application/json", json.dumps({"got": len(body)}).encode()


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, Echo, BodyBudget]]:
    echo, budget = Echo(), BodyBudget()
    async with anyio.create_task_group() as tg:
        port = await tg.start(lambda task_status: serve_http("127.0.0.1", 0, echo, budget=budget,
                                                             task_status=task_status))
        yield port, echo, budget
        tg.cancel_scope.cancel()


def exchange(port: int, data: bytes, *, timeout_s: float = 5.0) -> tuple[int, dict[str, Any], float]:
    """Send ``data`` (blocking socket), read the whole answer: (status, JSON body, seconds)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        with contextlib.suppress(OSError):  # the server answered and closed mid-send
            sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body.startswith(b"{") else {"raw": body}, time.monotonic() - t0


async def ask(port: int, data: bytes) -> tuple[int, dict[str, Any], float]:
    return await anyio.to_thread.run_sync(lambda: exchange(port, data))


@pytest.mark.parametrize("length", ["²", "+5", "1_0", "-1", "0x10", "9" * 40, "1 2"])
async def test_a_content_length_that_is_not_ascii_digits_is_a_400(
        server: tuple[int, Echo, BodyBudget], length: str) -> None:
    port, echo, _ = server
    status, body, _ = await ask(port, f"POST /v1/txs HTTP/1.1\r\nContent-Length: {length}\r\n\r\n"
                                .encode())
    assert status == 400 and "Content-Length" in body["error"]
    assert echo.bodies == []


async def test_a_body_over_the_limit_is_refused_from_its_length_before_it_is_read(
        server: tuple[int, Echo, BodyBudget]) -> None:
    """Finding 8: a 16 MiB POST took 7.4 s to refuse. Now the head alone is enough."""
    port, echo, budget = server
    n = 16 * 1024 * 1024
    head = f"POST /v1/txs HTTP/1.1\r\nContent-Length: {n}\r\n\r\n".encode()
    status, body, seconds = await ask(port, head)  # the body is never sent
    assert status == 413 and str(HTTP_BODY_BYTES_MAX) in body["error"]
    assert seconds < 2.0 and echo.bodies == [] and budget.held == 0


async def test_a_16_mib_post_is_answered_fast_and_leaves_nothing_held(
        server: tuple[int, Echo, BodyBudget]) -> None:
    port, _, budget = server
    n = 16 * 1024 * 1024
    status, _, seconds = await ask(port, f"POST /v1/txs HTTP/1.1\r\nContent-Length: {n}\r\n\r\n"
                                   .encode() + bytes(n))
    assert status == 413 and seconds < 3.0 and budget.held == 0


async def test_a_body_within_the_limit_reaches_the_handler(
        server: tuple[int, Echo, BodyBudget]) -> None:
    port, echo, budget = server
    n = HTTP_BODY_BYTES_MAX
    status, body, _ = await ask(port, f"POST /x HTTP/1.1\r\nContent-Length: {n}\r\n\r\n".encode()
                                + bytes(n))
    assert status == 200 and body == {"got": n} and echo.bodies == [n] and budget.held == 0


async def test_a_head_over_the_limit_is_a_431(server: tuple[int, Echo, BodyBudget]) -> None:
    port, echo, _ = server
    status, body, _ = await ask(port, b"GET / HTTP/1.1\r\nX: " + b"a" * (HTTP_HEAD_BYTES_MAX + 10))
    assert status == 431 and "head" in body["error"] and echo.bodies == []


@pytest.mark.parametrize("data", [b"GARBAGE\r\n\r\n", b"GET /\r\n\r\n",
                                  b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                                  b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"])
async def test_malformed_requests_get_a_4xx_or_501_with_a_reason(
        server: tuple[int, Echo, BodyBudget], data: bytes) -> None:
    port, echo, _ = server
    status, body, _ = await ask(port, data)
    assert status in (400, 501) and body["error"] and echo.bodies == []


async def test_bodies_in_flight_beyond_the_budget_are_refused_at_once(
        server: tuple[int, Echo, BodyBudget]) -> None:
    """Finding 8: 30 large POSTs at once held 659 MiB. Bodies being read share a budget;
    beyond it a request is refused (503) before its body is read."""
    port, _, budget = server
    n = HTTP_BODY_BYTES_MAX
    fits = budget.bytes_max // n
    head = f"POST /x HTTP/1.1\r\nContent-Length: {n}\r\n\r\n".encode()
    socks = []
    try:
        for _ in range(fits):  # each sends its head, then stalls: its length is held
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(head + bytes(1000))
            socks.append(s)
        with anyio.fail_after(5):
            while budget.held < fits * n:
                await anyio.sleep(0.01)
        status, body, _ = await ask(port, head)
        assert status == 503 and "retry" in body["error"] and budget.refused == 1
    finally:
        for s in socks:
            s.close()
    with anyio.fail_after(5):
        while budget.held:
            await anyio.sleep(0.01)


async def test_a_slow_body_times_out(server: tuple[int, Echo, BodyBudget],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_mod, "HTTP_REQUEST_TIMEOUT_S", 0.3)
    port, echo, budget = server

    def slowloris() -> float:
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"POST /x HTTP/1.1\r\nContent-Length: 100\r\n\r\nab")
            assert s.recv(100) == b""  # closed by the server, nothing answered
        return time.monotonic() - t0

    seconds = await anyio.to_thread.run_sync(slowloris)
    assert 0.2 < seconds < 3.0 and echo.bodies == [] and budget.held == 0
