"""The node's HTTP endpoints: operations (/status, /ready, /alive, /metrics, /actors,
the web page) and the client API (/v1/...), on their own port.

A deliberately small HTTP/1.1 server on anyio (no new dependency): one request per
connection, bounded head and body (``head_bytes_max``, ``body_bytes_max``), a deadline per
request. Everything it knows about the node it learns by asking the validator actor
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

from focusflow.node.messages import Query, QueryReply, SubmitReply, SubmitTxs, schema
from focusflow.supervisor import ActorError
from focusflow.wire import WireError, decode_message

HEAD_BYTES_MAX = 16 * 1024
BODY_BYTES_MAX = 16 * 1024 * 1024
REQUEST_TIMEOUT_S = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed",
            413: "Payload Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}
SUBMIT_TYPE_ID = int(schema.SubmitTxs.schema.node.id)

Response = tuple[int, str, bytes]
Handler = Callable[[str, str, dict[str, list[str]], bytes], Awaitable[Response]]


def json_response(data: Any, status: int = 200) -> Response:
    """A JSON body."""
    return status, "application/json", (json.dumps(data, indent=1) + "\n").encode()


async def serve_http(host: str, port: int, handler: Handler, *,
                     task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; reports the bound port."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = int(listener.extra(anyio.abc.SocketAttribute.local_address)[1])
    task_status.started(bound)
    async with listener:
        await listener.serve(lambda stream: _one_request(stream, handler))


async def _one_request(stream: anyio.abc.SocketStream, handler: Handler) -> None:
    async with stream:
        try:
            with anyio.fail_after(REQUEST_TIMEOUT_S):
                response = await _read_and_handle(stream, handler)
                await _write(stream, *response)
        except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            return
        except Exception as exc:  # a bug in one route must not take the endpoints down
            structlog.get_logger("focusflow.node").error("http_handler_failed", error=repr(exc))
            with contextlib.suppress(Exception):
                await _write(stream, 500, "text/plain", b"internal error\n")


async def _read_and_handle(stream: anyio.abc.SocketStream, handler: Handler) -> Response:
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > HEAD_BYTES_MAX:
            return 413, "text/plain", b"request head too large\n"
        buf += await stream.receive()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError:
        return 400, "text/plain", b"bad request line\n"
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length_text = headers.get("content-length", "0") or "0"
    if not length_text.isdigit():
        return 400, "text/plain", b"bad content-length\n"
    length = int(length_text)
    if length > BODY_BYTES_MAX:
        return 413, "text/plain", b"body too large\n"
    while len(body) < length:
        body += await stream.receive()
    url = urlsplit(target)
    try:
        return await handler(method, unquote(url.path), parse_qs(url.query), body[:length])
    except (ValueError, KeyError) as exc:  # the client's fault
        return json_response({"error": f"{type(exc).__name__}: {exc}"}, 400)
    except ActorError as exc:  # the validator is restarting or overloaded: try again
        return json_response({"error": f"{type(exc).__name__}: {exc}"}, 503)


async def _write(stream: anyio.abc.SocketStream, status: int, ctype: str, body: bytes) -> None:
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    await stream.send(head.encode() + body)


class NodeApi:
    """Routes of one node (the handler given to ``serve_http``)."""

    def __init__(self, *, ask: Callable[[Any], Awaitable[Any]], status: Callable[[], Awaitable[Any]],
                 metrics: Callable[[], Awaitable[str]], actors: Callable[[], list[dict[str, Any]]],
                 ready: Callable[[], Awaitable[tuple[bool, str]]], page: str,
                 restart: Callable[[str], Awaitable[str]] | None = None) -> None:
        self._ask = ask
        self._status = status
        self._metrics = metrics
        self._actors = actors
        self._ready = ready
        self._page = page
        self._restart = restart  # None: the actor listing is read-only

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
            kind = path[len("/v1/"):]
            reply = await self._ask(Query(kind, arg))
            assert isinstance(reply, QueryReply)
            return json_response(json.loads(reply.json))
        return 404, "text/plain", b"not found\n"

    async def _submit(self, body: bytes) -> Response:
        try:
            msg = decode_message(SUBMIT_TYPE_ID, body)
        except WireError as exc:
            return json_response({"error": f"not a SubmitTxs message: {exc}"}, 400)
        assert isinstance(msg, SubmitTxs)
        reply = await self._ask(msg)
        assert isinstance(reply, SubmitReply)
        return json_response({"accepted": reply.accepted, "rejected": reply.rejected,
                              "reason": reply.reason})
