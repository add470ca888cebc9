"""A small blocking client of a node's HTTP API (CLI, devnet driver, tests).

Transactions travel as a Cap'n Proto ``SubmitTxs`` body; answers are JSON.
"""

from __future__ import annotations

import json
import time  # runtime-ok: the CLI's HTTP client (not actor code) waits on the wall clock
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from focusflow.limits import SUBMIT_TXS_MAX
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
    """POST signed transactions to ``/v1/txs``; returns {accepted, rejected, reason} (and
    ``http_status`` when the node refused all of them, ``retry_after_s`` when it said
    when to come back: 503, the validator is behind and sheds load).

    Raises:
        NodeUnavailable: connection failed or timed out.
    """
    if len(txs) > SUBMIT_TXS_MAX:  # one request per SUBMIT_TXS_MAX txs, answers summed
        parts = [submit(base, txs[i:i + SUBMIT_TXS_MAX], focus[i:i + SUBMIT_TXS_MAX],
                        timeout_s=timeout_s) for i in range(0, len(txs), SUBMIT_TXS_MAX)]
        return {"accepted": sum(p["accepted"] for p in parts),
                "rejected": sum(p["rejected"] for p in parts),
                "reason": next((p["reason"] for p in parts if p["rejected"]), parts[0]["reason"])}
    _, body = encode_message(SubmitTxs(tuple(txs), tuple(int(f) for f in focus)))
    req = urllib.request.Request(base + "/v1/txs", data=body, method="POST",
                                 headers={"Content-Type": "application/x-capnp"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data
    except urllib.error.HTTPError as exc:  # refused (4xx) or busy (503): the reason is JSON
        text = exc.read().decode(errors="replace")
        try:
            answer = json.loads(text)
        except ValueError:
            answer = {"error": text.strip()}
        reason = answer.get("reason") or answer.get("error", "") if isinstance(answer, dict) else text
        out: dict[str, Any] = {"accepted": 0, "rejected": len(txs), "reason": str(reason),
                               "http_status": exc.code}
        retry = exc.headers.get("Retry-After") if exc.headers else None
        if retry is not None and retry.strip().isdigit():  # 503: back off this long
            out["retry_after_s"] = int(retry.strip())
        return out
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


def wait_for_tx(base: str, tx_id: bytes, *, timeout_s: float = TIMEOUT_S_DEFAULT,
                poll_s: float = 0.2) -> dict[str, Any]:
    """Poll ``/v1/tx?arg=<id>`` until the tx is committed or rejected at execution, or
    ``timeout_s`` passed (then the last answer: "pending" or "unknown").

    Raises:
        NodeUnavailable: connection failed or timed out.
    """
    deadline = time.monotonic() + timeout_s  # runtime-ok: a CLI client's poll, not actor code
    while True:
        answer: dict[str, Any] = get(base, f"/v1/tx?arg={tx_id.hex()}")
        done = answer.get("status") in ("committed", "rejected")
        if done or time.monotonic() >= deadline:  # runtime-ok: the CLI client's wall clock
            return answer
        time.sleep(poll_s)
