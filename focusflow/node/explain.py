"""A node that explains itself: its consensus view, the stall rule, recent history.

Why (issue 20): a devnet that stopped making blocks looked healthy on ``status``, the web
page and the logs. Three pieces answer "is the chain moving, and if not, who is it
waiting for?":

* :class:`ProgressWatch`, kept by the validator actor: when it first saw its current
  height and when each peer last sent it anything (the runtime's clock, so the simulator
  replays it). Block headers carry no time, so a block's *age* is the time since this
  node saw it finalized (or, for the height it started with, since it started).
* :func:`consensus_answer`: the ``consensus`` query (``/v1/consensus``, ``focusflow
  status --consensus``): the core's :class:`~focusflow.actors.consensus.view.ConsensusView`
  with validators named, the last commit and its age, the peers, the stall verdict.
* :class:`StallRule`: stalled when no block came for ``after_intervals`` × the expected
  ``block_interval_ms`` (``[consensus]`` of ``node.toml``); ``/ready`` is then false.
* :class:`History`: a bounded ring of samples (height, links, finality) the node takes
  every second, for the web page's charts.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from focusflow.actors.consensus.view import ConsensusView, Tally

PEERS_TRACKED_MAX = 256
"""Peers whose last message time is kept (remote senders are pinned peers; a bound anyway)."""
HISTORY_SAMPLES_MAX = 600
"""Samples kept for the web page's charts: 10 minutes at one a second."""
HISTORY_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class StallRule:
    """No block for ``after_intervals`` × ``block_interval_ms``: the chain is stalled.

    Why these defaults: a healthy committee finalizes a block per anchor slot, well under
    a second on a LAN; a slot whose leader is down costs one ``leader_timeout_ms`` (1000 by
    default) before the others vote to skip it. Ten such intervals without any block is
    not a slow leader any more but a chain that cannot reach a quorum.
    """

    block_interval_ms: int = 1000
    after_intervals: int = 10

    @property
    def after_ms(self) -> int:
        """The silence, in ms, after which the chain counts as stalled."""
        return self.block_interval_ms * self.after_intervals

    def verdict(self, height: int, age_ms: float) -> dict[str, Any]:
        """The stall verdict for a last block at ``height`` seen ``age_ms`` ago."""
        stalled = age_ms > self.after_ms
        what = f"block {height}" if height else "genesis"
        reason = (f"no block for {age_ms / 1000:.1f} s after {what} "
                  f"(over {self.after_intervals} × {self.block_interval_ms} ms)" if stalled
                  else f"{what} {age_ms / 1000:.1f} s ago")
        return {"stalled": stalled, "last_block_height": height,
                "last_block_age_ms": round(age_ms, 1), "after_ms": self.after_ms,
                "block_interval_ms": self.block_interval_ms,
                "after_intervals": self.after_intervals, "reason": reason}


class ProgressWatch:
    """When this node saw its current height, and when each peer last sent it anything.

    The validator calls :meth:`observe` at the start of every message it handles, so a
    new height is stamped by the next message at the latest (consensus frames, the
    repeating sync timer, or the very query that asks for the age).
    """

    def __init__(self) -> None:
        self.height = -1
        self.height_since_ns = 0
        self.heard_ns: dict[str, int] = {}

    def observe(self, height: int, sender_node: str | None, me: str, now_ns: int) -> None:
        if height != self.height:
            self.height, self.height_since_ns = height, now_ns
        if sender_node is not None and sender_node != me:
            if sender_node not in self.heard_ns and len(self.heard_ns) >= PEERS_TRACKED_MAX:
                return
            self.heard_ns[sender_node] = now_ns

    def age_ms(self, now_ns: int) -> float:
        """Milliseconds since the current height was first seen."""
        return max(0, now_ns - self.height_since_ns) / 1e6


def _named(t: Tally, names: list[str]) -> dict[str, Any]:
    return {"seen": [names[i] for i in t.seen], "missing": [names[i] for i in t.missing],
            "stake_seen": t.stake_seen, "stake_needed": t.stake_needed, "complete": t.complete}


def core_answer(view: ConsensusView, names: list[str]) -> dict[str, Any]:
    """The core's view with validator indices replaced by node names (JSON-ready)."""
    return {
        "round": view.round,
        "path": view.mode,
        "consecutive_timeouts": view.consecutive_timeouts,
        "leader": None if view.leader is None else {
            "slot": view.round, "validator": names[view.leader], "certified": view.leader_certified},
        "header_votes": _named(view.header_votes, names),
        "certificates": _named(view.certificates, names),
        "block_votes": None if view.block_votes is None else {
            "height": view.finalized_height + 1, **_named(view.block_votes, names)},
        "last_decided_slot": view.last_decided_slot,
        "built_height": view.built_height,
        "pending_txs": view.pending_txs,
    }


def consensus_answer(*, node: str, mode: str, why: str, view: ConsensusView | None,
                     names: list[str], peers: list[str], height: int, watch: ProgressWatch,
                     rule: StallRule, now_ns: int) -> dict[str, Any]:
    """The ``consensus`` query's answer (``docs/operations.md`` lists every field)."""
    age = watch.age_ms(now_ns)
    heard = watch.heard_ns
    others = peers + sorted(n for n in heard if n not in peers)
    return {
        "node": node,
        "mode": mode,
        "mode_reason": why or ("signing: a member of the committee with its key"
                               if mode == "consensus" else ""),
        "validator": names.index(node) if node in names else None,
        "consensus": None if view is None else core_answer(view, names),
        "last_commit": {"height": height, "age_ms": round(age, 1)},
        "peers": [{"name": n, "validator": n in names,
                   "last_message_age_ms": (round((now_ns - heard[n]) / 1e6, 1)
                                           if n in heard else None)} for n in others],
        "stall": rule.verdict(height, age),
    }


class History:
    """A bounded ring of the node's recent samples: time, height, links, finality p50.

    Why in the node: the web page draws the last minutes without a metrics server; a
    page opened late still sees them. ``links_per_s`` is derived from consecutive samples.
    """

    def __init__(self, samples_max: int = HISTORY_SAMPLES_MAX) -> None:
        self.samples: deque[tuple[float, int, int, float | None]] = deque(maxlen=samples_max)

    def add(self, t_s: float, height: int, links: int, finality_ms: float | None) -> None:
        self.samples.append((t_s, height, links, finality_ms))

    def series(self) -> dict[str, Any]:
        """Columns for the charts; ``t`` in seconds relative to the newest sample."""
        rows = list(self.samples)
        last = rows[-1][0] if rows else 0.0
        rate: list[float | None] = [None]
        for (t0, _, l0, _), (t1, _, l1, _) in pairwise(rows):
            rate.append(round((l1 - l0) / (t1 - t0), 2) if t1 > t0 else None)
        return {"interval_s": HISTORY_INTERVAL_S,
                "t": [round(r[0] - last, 2) for r in rows],
                "height": [r[1] for r in rows],
                "links_per_s": rate[:len(rows)],
                "finality_ms_p50": [r[3] for r in rows]}
