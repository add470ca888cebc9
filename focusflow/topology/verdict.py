"""Safety verdicts of a devnet: do the validators hold the same chain?

A verdict compares, height by height, one value per node (a block digest, a π root) and
ends in one of three states, never confused with each other (issue 21):

* ``agree``: every node was measured and all hold the same value at every height up to
  the lowest tip among them;
* ``disagree``: two measured nodes hold different values at some height; the verdict
  names the first such height and each node's value there (a fork, or a hole in a log);
* ``unmeasured``: what was measured agrees, but some node could not be read (it did not
  answer, or its files could not be opened); those nodes are listed with the reason.

Where the values come from is the caller's choice: :func:`durable_views` reads what each
stopped node made durable (its ``data/`` SQLite files), :func:`live_views` pages the
node's HTTP API with retries. A failed read is a measurement failure, not a value.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from focusflow.node import client
from focusflow.node.chain import ChainError, read_durable_chain

AGREE, DISAGREE, UNMEASURED = "agree", "disagree", "unmeasured"
MISSING = "(missing)"
"""A node's value at a height below its own tip that it does not hold (a hole)."""
PAGE_HEIGHTS = 1000
ATTEMPTS = 5
RETRY_PAUSE_S = 0.5

View = list[tuple[int, str]]


@dataclass(frozen=True)
class Verdict:
    """One comparison's outcome (see module docstring)."""

    what: str
    status: str
    heights_checked: int = 0
    last: str = ""  # the agreed value at ``heights_checked`` ("" when none)
    first_height: int | None = None  # disagree: the first height with two values
    values: dict[str, str] = field(default_factory=dict)  # disagree: node -> its value there
    unmeasured: dict[str, str] = field(default_factory=dict)  # node -> why it was not read

    @property
    def agree(self) -> bool:
        """True only when every node was measured and all agree."""
        return self.status == AGREE

    def to_json(self) -> dict[str, Any]:
        """The verdict as the devnet's JSON summary carries it."""
        return {"what": self.what, "verdict": self.status, "heights_checked": self.heights_checked,
                "first_height": self.first_height, "values": self.values,
                "unmeasured": self.unmeasured}

    def describe(self) -> str:
        """One line for a terminal: what differs where, or who was not measured."""
        if self.status == DISAGREE:
            groups: dict[str, list[str]] = {}
            for node, value in sorted(self.values.items()):
                groups.setdefault(value, []).append(node)
            sides = "; ".join(f"{','.join(nodes)} have {value}" for value, nodes in groups.items())
            return f"{self.what}s DIFFER at height {self.first_height}: {sides}"
        text = f"{self.what}s agree up to height {self.heights_checked}"
        if self.status == UNMEASURED:
            who = "; ".join(f"{n}: {why}" for n, why in sorted(self.unmeasured.items()))
            text = f"{self.what}s unmeasured on {len(self.unmeasured)} node(s) ({who}); " \
                   f"the others' {text}"
        return text


def compare(what: str, views: Mapping[str, Sequence[tuple[int, str]]],
            failures: Mapping[str, str] | None = None) -> Verdict:
    """Compare ``views`` (node -> (height, value) rows) up to the lowest tip among them;
    ``failures`` (node -> why) are the nodes that could not be read."""
    failures = dict(failures or {})
    if not views:
        return Verdict(what, UNMEASURED, unmeasured=failures)
    by_node = {n: dict(rows) for n, rows in views.items()}
    top = min((max(rows) if rows else 0) for rows in by_node.values())
    for h in range(1, top + 1):
        values = {n: rows.get(h, MISSING) for n, rows in by_node.items()}
        if len(set(values.values())) > 1:
            return Verdict(what, DISAGREE, top, first_height=h, values=values,
                           unmeasured=failures)
    last = next(iter(by_node.values())).get(top, "") if top else ""
    alone = len(views) < 2 and not failures  # one node: nothing to compare against
    status = UNMEASURED if failures or alone else AGREE
    if alone:
        failures = {"(others)": "only one node in the comparison"}
    return Verdict(what, status, top, last, unmeasured=failures)


def durable_views(homes: Mapping[str, Path]) -> tuple[dict[str, View], dict[str, View],
                                                     dict[str, str]]:
    """(block digests, π roots, failures) from each stopped node's ``<home>/data``."""
    digests: dict[str, View] = {}
    pi_roots: dict[str, View] = {}
    failures: dict[str, str] = {}
    for name, home in homes.items():
        try:
            chain = read_durable_chain(home / "data")
        except ChainError as exc:
            failures[name] = str(exc)
            continue
        digests[name], pi_roots[name] = chain.digests, chain.pi_roots
    return digests, pi_roots, failures


def get_retrying(url: str, path: str, *, attempts: int = ATTEMPTS,
                 pause_s: float = RETRY_PAUSE_S) -> Any:
    """GET ``path``, retried while the node does not answer or answers an error object.

    Raises:
        client.NodeUnavailable: every attempt failed (the last reason in the message).
    """
    why = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(pause_s)
        try:
            data = client.get(url, path)
        except client.NodeUnavailable as exc:
            why = str(exc)
            continue
        if isinstance(data, dict) and ("error" in data or "http_status" in data):
            why = f"{path}: {data.get('error') or data.get('body')}"
            continue
        return data
    raise client.NodeUnavailable(f"no answer after {attempts} attempts ({why})")


def fetch_rows(url: str, kind: str, *, page: int = PAGE_HEIGHTS, attempts: int = ATTEMPTS,
               pause_s: float = RETRY_PAUSE_S) -> View:
    """Every (height, hex) row of ``/v1/<kind>`` (``blocks`` or ``pi_roots``), page by
    page until the node's tip, each page retried.

    Raises:
        client.NodeUnavailable: a page failed every attempt, or was not a list of rows.
    """
    rows: View = []
    start = 1
    while True:
        data = get_retrying(url, f"/v1/{kind}?arg={start}:{start + page - 1}",
                            attempts=attempts, pause_s=pause_s)
        if not isinstance(data, list) or any(
                not isinstance(r, list) or len(r) != 2 for r in data):
            raise client.NodeUnavailable(f"/v1/{kind}: not a list of [height, hex] rows")
        rows += [(int(h), str(v)) for h, v in data]
        if len(data) < page:
            return rows
        start += page


def live_views(nodes: Mapping[str, str], kind: str, **retry: Any) -> tuple[dict[str, View],
                                                                          dict[str, str]]:
    """(views, failures) of ``kind`` read from running nodes (name -> HTTP base URL)."""
    views: dict[str, View] = {}
    failures: dict[str, str] = {}
    for name, url in nodes.items():
        try:
            views[name] = fetch_rows(url, kind, **retry)
        except client.NodeUnavailable as exc:
            failures[name] = str(exc)
    return views, failures
