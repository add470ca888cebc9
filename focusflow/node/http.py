"""The node's HTTP endpoints: operations (/status, /ready, /alive, /metrics, /actors,
/history, the web page) and the client API (/v1/...), on their own port.

A deliberately small HTTP/1.1 server on anyio (no new dependency): one request per
connection, bounded head and body (``focusflow.limits``: the head as it arrives, the body
from ``Content-Length`` before a byte of it is read, all bodies in flight together), a
deadline per request. Every refusal is a JSON ``{"error": reason}`` with a 4xx status
(503: retry later). Everything it knows about the node it learns by asking the validator actor
(Cap'n Proto messages, as on every hop) or by reading runtime/transport counters.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import anyio  # runtime-ok: the HTTP API server of the process main, outside actors
import anyio.abc  # runtime-ok: as above
import structlog

from focusflow.limits import (
    HTTP_BODY_BYTES_IN_FLIGHT_MAX,
    HTTP_BODY_BYTES_MAX,
    HTTP_HEAD_BYTES_MAX,
    HTTP_REQUEST_TIMEOUT_S,
    RETRY_AFTER_S,
    SUBMIT_TXS_MAX,
)
from focusflow.node.messages import Query, QueryReply, SubmitReply, SubmitTxs, schema
from focusflow.node.query import QueryError, parse_query
from focusflow.supervisor import ActorError
from focusflow.wire import WireError, decode_message

_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large",
            431: "Request Header Fields Too Large", 500: "Internal Server Error",
            501: "Not Implemented", 503: "Service Unavailable"}
SUBMIT_TYPE_ID = int(schema.SubmitTxs.schema.node.id)
CONTENT_LENGTH_DIGITS_MAX = 12  # well past HTTP_BODY_BYTES_MAX; int() of more is pointless
RECEIVE_BYTES_MAX = 64 * 1024

Response = tuple[int, str, bytes]
Handler = Callable[[str, str, dict[str, list[str]], bytes], Awaitable[Response]]


class RequestError(Exception):
    """A request refused before its handler runs: ``status`` and a specific reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def json_response(data: Any, status: int = 200) -> Response:
    """A JSON body."""
    return status, "application/json", (json.dumps(data, indent=1) + "\n").encode()


def error_response(status: int, reason: str) -> Response:
    """``{"error": reason}`` with ``status``: every refusal looks the same to a client."""
    return json_response({"error": reason}, status)


class BodyBudget:
    """Body bytes the requests being read hold together (``HTTP_BODY_BYTES_IN_FLIGHT_MAX``).

    Why: each request's body is bounded, but thirty 16 MiB POSTs at once held 659 MiB
    (issue 16). A request takes its ``Content-Length`` from the budget before reading a
    byte of its body, and gives it back when answered; one that does not fit is refused
    at once (503), so a flood costs the node at most the budget.
    """

    def __init__(self, bytes_max: int = HTTP_BODY_BYTES_IN_FLIGHT_MAX) -> None:
        self.bytes_max = bytes_max
        self.held = 0
        self.refused = 0

    def take(self, n: int) -> bool:
        if self.held + n > self.bytes_max:
            self.refused += 1
            return False
        self.held += n
        return True

    def give(self, n: int) -> None:
        self.held -= n
        assert self.held >= 0


async def serve_http(host: str, port: int, handler: Handler, *,
                     budget: BodyBudget | None = None,
                     task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; reports the bound port."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = int(listener.extra(anyio.abc.SocketAttribute.local_address)[1])
    shared = budget or BodyBudget()
    task_status.started(bound)
    async with listener:
        await listener.serve(lambda stream: _one_request(stream, handler, shared))


async def _one_request(stream: anyio.abc.SocketStream, handler: Handler,
                       budget: BodyBudget) -> None:
    async with stream:
        try:
            with anyio.fail_after(HTTP_REQUEST_TIMEOUT_S):
                response = await _read_and_handle(stream, handler, budget)
                await _write(stream, *response)
        except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            return
        except Exception as exc:  # a bug in one route must not take the endpoints down
            structlog.get_logger("focusflow.node").error("http_handler_failed", error=repr(exc))
            with contextlib.suppress(Exception):
                await _write(stream, *error_response(500, "internal error"))


async def _read_head(stream: anyio.abc.SocketStream) -> tuple[bytes, bytearray]:
    """The request head (up to the blank line) and what arrived after it.

    Raises:
        RequestError: 431 past ``HTTP_HEAD_BYTES_MAX`` (checked as bytes arrive).
    """
    buf = bytearray()
    while True:
        start = max(0, len(buf) - 3)
        buf += await stream.receive(RECEIVE_BYTES_MAX)
        end = buf.find(b"\r\n\r\n", start)
        if end >= 0 and end <= HTTP_HEAD_BYTES_MAX:
            return bytes(buf[:end]), buf[end + 4:]
        if len(buf) > HTTP_HEAD_BYTES_MAX:
            raise RequestError(431, f"request head over {HTTP_HEAD_BYTES_MAX} bytes")


def _content_length(headers: list[tuple[str, str]]) -> int:
    """The body length a request announces (0 without one).

    Raises:
        RequestError: 400 for anything but ASCII digits (``int`` takes '²', '+1', ' 1_0')
            or two different lengths; 501 for a chunked body; 413 over
            ``HTTP_BODY_BYTES_MAX`` (before a byte of the body is read).
    """
    if any(k == "transfer-encoding" for k, _ in headers):
        raise RequestError(501, "Transfer-Encoding is not supported: send Content-Length")
    values = {v for k, v in headers if k == "content-length"}
    if not values:
        return 0
    if len(values) > 1:
        raise RequestError(400, "conflicting Content-Length headers")
    text = values.pop()
    if not text.isascii() or not text.isdigit() or len(text) > CONTENT_LENGTH_DIGITS_MAX:
        raise RequestError(400, f"bad Content-Length {text[:24]!r}: expected decimal digits")
    length = int(text)
    if length > HTTP_BODY_BYTES_MAX:
        raise RequestError(413, f"body of {length} bytes over {HTTP_BODY_BYTES_MAX}")
    return length


async def _read_and_handle(stream: anyio.abc.SocketStream, handler: Handler,
                           budget: BodyBudget) -> Response:
    try:
        head, body = await _read_head(stream)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise RequestError(400, "bad request line")
        method, target, _version = parts
        headers = [(k.strip().lower(), v.strip())
                   for k, _, v in (ln.partition(":") for ln in lines[1:])]
        length = _content_length(headers)
    except RequestError as exc:
        return error_response(exc.status, str(exc))
    if not budget.take(length):
        return error_response(503, "too many request bodies in flight: retry")
    try:
        while len(body) < length:
            body += await stream.receive(min(RECEIVE_BYTES_MAX, length - len(body)))
        url = urlsplit(target)
        return await _route(handler, method, unquote(url.path), parse_qs(url.query),
                            bytes(body[:length]))
    finally:
        budget.give(length)


async def _route(handler: Handler, method: str, path: str, query: dict[str, list[str]],
                 body: bytes) -> Response:
    try:
        return await handler(method, path, query, body)
    except (ValueError, KeyError) as exc:  # the client's fault
        return error_response(400, f"{type(exc).__name__}: {exc}")
    except ActorError as exc:  # the validator is restarting or overloaded: try again
        return error_response(503, f"{type(exc).__name__}: {exc}")


async def _write(stream: anyio.abc.SocketStream, status: int, ctype: str, body: bytes) -> None:
    retry = f"Retry-After: {RETRY_AFTER_S}\r\n" if status == 503 else ""  # every 503: later
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {ctype}\r\n"
            f"{retry}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    await stream.send(head.encode() + body)


def submit_status(reply: SubmitReply) -> int:
    """The HTTP status of a submission's answer: 200 when any tx was accepted; else
    413 (a limit), 503 (overloaded or shed under load, nobody to forward to: retry
    later, after ``Retry-After``) or 400."""
    if reply.accepted or not reply.rejected:
        return 200
    reason = reply.reason
    if reason.startswith(("invalid: oversized", "at most")):
        return 413
    if reason.startswith(("shed:", "overloaded:", "no validator")):
        return 503
    return 400


class NodeApi:
    """Routes of one node (the handler given to ``serve_http``)."""

    def __init__(self, *, ask: Callable[[Any], Awaitable[Any]], status: Callable[[], Awaitable[Any]],
                 metrics: Callable[[], Awaitable[str]], actors: Callable[[], list[dict[str, Any]]],
                 ready: Callable[[], Awaitable[tuple[bool, str]]], page: str,
                 restart: Callable[[str], Awaitable[str]] | None = None,
                 history: Callable[[], dict[str, Any]] | None = None) -> None:
        self._ask = ask
        self._status = status
        self._metrics = metrics
        self._actors = actors
        self._ready = ready
        self._page = page
        self._restart = restart  # None: the actor listing is read-only
        self._history = history or (lambda: {"t": []})

    async def __call__(self, method: str, path: str, query: dict[str, list[str]],
                       body: bytes) -> Response:
        if method == "POST" and path == "/v1/txs":
            return await self._submit(body)
        if method == "POST" and path.startswith("/actors/") and path.endswith("/restart"):
            if self._restart is None:
                return json_response({"error": "actors are read-only here "
                                               "(set [http] actors_write = true)"}, 403)
            want = path[len("/actors"):-len("/restart")]
            if not any(a["path"] == want for a in self._actors()):
                return json_response({"error": "no such actor"}, 404)
            return json_response({"path": want, "stopped": await self._restart(want)})
        if method != "GET":
            return 405, "text/plain", b"read-only endpoint\n"
        arg = query.get("arg", query.get("cid", [""]))[0]  # /v1/focus?cid=<hex> too
        if path == "/alive":
            return 200, "text/plain", b"alive\n"
        if path == "/ready":
            ok, why = await self._ready()
            return (200 if ok else 503), "text/plain", (why + "\n").encode()
        if path == "/status":
            return json_response(await self._status())
        if path == "/history":
            return json_response(self._history())
        if path == "/metrics":
            return 200, "text/plain; version=0.0.4", (await self._metrics()).encode()
        if path == "/actors":
            return json_response(self._actors())
        if path.startswith("/actors/"):
            want = path[len("/actors"):]
            found = [a for a in self._actors() if a["path"] == want]
            return json_response(found[0]) if found else json_response({"error": "no such actor"}, 404)
        if path in ("/", "/index.html"):
            return 200, "text/html; charset=utf-8", self._page.encode()
        if path.startswith("/v1/"):
            return await self._query(path[len("/v1/"):], arg)
        return 404, "text/plain", b"not found\n"

    async def _query(self, kind: str, arg: str) -> Response:
        """Checked at the door (``node.query``): a bad query never reaches the validator."""
        try:
            parse_query(kind, arg)
        except QueryError as exc:
            return error_response(exc.status, str(exc))
        reply = await self._ask(Query(kind, arg))
        assert isinstance(reply, QueryReply)
        answer = json.loads(reply.json)
        if isinstance(answer, dict) and "error" in answer:
            return error_response(int(answer.get("status", 400)), str(answer["error"]))
        return json_response(answer)

    async def _submit(self, body: bytes) -> Response:
        try:
            msg = decode_message(SUBMIT_TYPE_ID, body)
        except WireError as exc:
            return error_response(400, f"not a SubmitTxs message: {exc}")
        assert isinstance(msg, SubmitTxs)
        if len(msg.txs) > SUBMIT_TXS_MAX:
            return error_response(413, f"{len(msg.txs)} txs over SUBMIT_TXS_MAX {SUBMIT_TXS_MAX}")
        if len(msg.focus) != len(msg.txs):
            return error_response(400, "focus tags and txs differ in number")
        reply = await self._ask(msg)
        assert isinstance(reply, SubmitReply)
        return json_response({"accepted": reply.accepted, "rejected": reply.rejected,
                              "reason": reply.reason}, submit_status(reply))
