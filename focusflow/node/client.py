"""A small blocking client of a node's HTTP API (CLI, devnet driver, tests).

Transactions travel as a Cap'n Proto ``SubmitTxs`` body; answers are JSON.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from focusflow.node.messages import SubmitTxs
from focusflow.wire import encode_message

TIMEOUT_S_DEFAULT = 10.0


class NodeUnavailable(Exception):
    """The node did not answer (not running, not listening, or timed out)."""


def get(base: str, path: str, *, timeout_s: float = TIMEOUT_S_DEFAULT) -> Any:
    """GET ``path`` and decode its JSON (``None`` for a non-JSON 200 body).

    Raises:
        NodeUnavailable: connection failed or timed out.
    """
    try:
        with urllib.request.urlopen(base + path, timeout=timeout_s) as resp:
            body = resp.read()
            ctype = resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        body, ctype = exc.read(), exc.headers.get("Content-Type", "")
        if "json" not in ctype:
            return {"http_status": exc.code, "body": body.decode(errors="replace").strip()}
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise NodeUnavailable(f"{base}{path}: {exc}") from exc
    if "json" in ctype:
        return json.loads(body)
    return body.decode(errors="replace")


def is_ready(base: str, *, timeout_s: float = 2.0) -> bool:
    """Whether ``/ready`` answers 200."""
    try:
        with urllib.request.urlopen(base + "/ready", timeout=timeout_s) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def submit(base: str, txs: Sequence[bytes], focus: Sequence[int], *,
           timeout_s: float = TIMEOUT_S_DEFAULT) -> dict[str, Any]:
    """POST signed transactions to ``/v1/txs``; returns {accepted, rejected, reason}.

    Raises:
        NodeUnavailable: connection failed or timed out.
    """
    _, body = encode_message(SubmitTxs(tuple(txs), tuple(int(f) for f in focus)))
    req = urllib.request.Request(base + "/v1/txs", data=body, method="POST",
                                 headers={"Content-Type": "application/x-capnp"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data
    except urllib.error.HTTPError as exc:
        return {"accepted": 0, "rejected": len(txs), "reason": exc.read().decode(errors="replace")}
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise NodeUnavailable(f"{base}/v1/txs: {exc}") from exc


def post_json(base: str, path: str, *, timeout_s: float = TIMEOUT_S_DEFAULT) -> Any:
    """POST with an empty body; the JSON answer (errors included, as JSON).

    Raises:
        NodeUnavailable: connection failed or timed out.
    """
    req = urllib.request.Request(base + path, data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise NodeUnavailable(f"{base}{path}: {exc}") from exc
