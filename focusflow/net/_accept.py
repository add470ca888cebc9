"""One accept loop for every listener of a node (p2p, HTTP): it outlives a full fd table.

Why not ``anyio``'s ``Listener.serve``: an ``accept`` that fails (``EMFILE`` when the
process is out of file descriptors, ``ENFILE``, ``ENOBUFS``, ``ENOMEM``) raises out of it
and takes the node's task group down with it: 1,100 idle connections under
``ulimit -n 1024`` killed the node (issue 16, finding 5). Here:

* a resource error in ``accept`` is counted, logged (at the 1st, 2nd, 4th ... of a run)
  and waited out with exponential backoff (``ACCEPT_BACKOFF_MS_MIN`` doubling to
  ``ACCEPT_BACKOFF_MS_MAX``); the pending connections stay in the kernel's backlog until
  descriptors are free again;
* at most ``connections_max`` connections are open at once per listener: one more is
  closed at once (counted), so idle or slow clients cannot take every descriptor;
* a handler that raises is counted and logged; it never stops the listener.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import structlog
from anyio.streams.stapled import MultiListener

ACCEPT_BACKOFF_MS_MIN = 10
ACCEPT_BACKOFF_MS_MAX = 1_000
#: accept() errors that mean "out of a resource for now", not "this listener is broken".
RESOURCE_ERRNOS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
#: accept() errors of one connection that went away before we took it.
CONNECTION_ERRNOS = frozenset((errno.ECONNABORTED, errno.ECONNRESET, errno.EPROTO,
                               errno.EPERM))


@dataclass
class AcceptStats:
    """Counters of one listener (exported on /status and /metrics)."""

    accepted: int = 0
    active: int = 0
    refused_over_limit: int = 0
    accept_errors: int = 0
    handler_errors: int = 0
    last_error: str = ""


async def serve_connections(listener: anyio.abc.Listener[Any],
                            handler: Callable[[Any], Awaitable[None]], *,
                            connections_max: int, stats: AcceptStats | None = None,
                            name: str = "listener", log: Any = None) -> None:
    """Accept connections on ``listener`` and run ``handler(stream)`` for each, in tasks
    of this call, until cancelled (see the module docstring for what it survives).

    Raises:
        OSError: ``accept`` failed for a reason other than a resource limit or a
            vanished connection (the listener itself is broken).
    """
    assert connections_max > 0
    st = stats if stats is not None else AcceptStats()
    logger = log if log is not None else structlog.get_logger("focusflow.net")

    async def one(stream: Any) -> None:
        try:
            await handler(stream)
        except Exception as exc:
            st.handler_errors += 1
            st.last_error = f"{type(exc).__name__}: {exc}"[:200]
            logger.warning("connection_handler_failed", listener=name, error=st.last_error)
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await stream.aclose()
        finally:
            st.active -= 1

    async def accept_loop(one_listener: Any, tg: anyio.abc.TaskGroup) -> None:
        backoff_ms = ACCEPT_BACKOFF_MS_MIN
        run = 0  # resource errors in a row
        while True:
            try:
                stream = await one_listener.accept()
            except OSError as exc:
                if exc.errno in CONNECTION_ERRNOS:
                    continue
                if exc.errno not in RESOURCE_ERRNOS:
                    raise
                st.accept_errors += 1
                run += 1
                st.last_error = f"{errno.errorcode.get(exc.errno or 0, '?')}: {exc.strerror}"
                if run & (run - 1) == 0:
                    logger.warning("accept_failed", listener=name, error=st.last_error,
                                   in_a_row=run, backoff_ms=backoff_ms, active=st.active)
                await anyio.sleep(backoff_ms / 1000)
                backoff_ms = min(ACCEPT_BACKOFF_MS_MAX, backoff_ms * 2)
                continue
            backoff_ms, run = ACCEPT_BACKOFF_MS_MIN, 0
            if st.active >= connections_max:
                st.refused_over_limit += 1
                with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                    await stream.aclose()
                continue
            st.accepted += 1
            st.active += 1
            tg.start_soon(one, stream)

    # create_tcp_listener gives a MultiListener (one socket per address family): one
    # loop per socket, sharing the counters and the bound.
    parts = listener.listeners if isinstance(listener, MultiListener) else [listener]
    async with anyio.create_task_group() as tg:
        for part in parts:
            tg.start_soon(accept_loop, part, tg)
