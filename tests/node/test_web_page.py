"""The node's web page (``/``) rendered by headless Chromium: it shows the supervisor tree,
blocks the node really finalized, the top of π, and it is live (its own polling).

Two validators run in-process (a committee of one cannot make blocks), started like
``tests/node/test_http.py`` starts its node (``load_settings`` + ``run_node``), with
homes laid out by the devnet's ``Devnet.setup``. Links come from the devnet's signed
``Workload`` over the client API. Chromium loads the page with ``--dump-dom`` and a
virtual-time budget, so the page's scripts run and their fetches reach the node; the
test then compares what the page rendered with what the node answers over its JSON API.
Liveness is checked without reloading: a second Chromium keeps the page open and the test
reads its DOM over the DevTools protocol (``--remote-debugging-pipe``: JSON messages
ending in NUL on fds 3 and 4, no extra dependency) until the page's polling shows a newer
block than it first showed.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import select
import subprocess
import time
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

from focusflow.actors.state.ids import cid_short
from focusflow.node import client
from focusflow.node.app import run_node
from focusflow.node.config import load_settings
from focusflow.node.logs import configure_logging
from focusflow.topology.devnet import Devnet, Workload
from tests.support import require_tool

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")
VIRTUAL_TIME_BUDGET_MS = 1500  # the page polls every 1000 ms: at least two refreshes
CHROMIUM_TIMEOUT_S = 20.0
CDP_CALL_TIMEOUT_S = 10.0
LIVE_TIMEOUT_S = 15.0  # blocks come every ~0.1-1 s with two validators
TXS = 12
LINKS_PER_TX = 5
SCREENSHOT_ENV = "FOCUSFLOW_SCREENSHOT"  # a path: save a PNG of the page there
SCREENSHOT_HISTORY_S = 12.0


@pytest.fixture
def anyio_backend() -> str:
    """One backend: the page, not the event loop, is under test (test_http covers both)."""
    return "asyncio"


class Tables(HTMLParser):
    """Cell texts of every ``<table id=…>``, the text and class of elements with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.texts: dict[str, str] = {}
        self.classes: dict[str, str] = {}  # id -> class attribute
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._ids: list[tuple[str, str]] = []  # open (tag, id) whose text we collect

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id")
        if ident:
            self.classes[ident] = dict(attrs).get("class") or ""
        if tag == "table" and ident:
            self._table = ident
            self.tables[ident] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag == "td" and self._table is not None:
            self._cell = []
        elif ident:
            self._ids.append((tag, ident))
            self.texts[ident] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "td" and self._table is not None and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif self._ids and self._ids[-1][0] == tag:
            self._ids.pop()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for _, ident in self._ids:
            self.texts[ident] += data


def body_rows(page: Tables, ident: str) -> list[list[str]]:
    """The data rows of a rendered table (the header row has no ``<td>``)."""
    return [r for r in page.tables.get(ident, []) if r]


async def render(chromium: str, url: str, profile: Path) -> Tables:
    """The page's DOM after its scripts ran, as Chromium serialises it."""
    argv = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}", "--dump-dom", url + "/"]
    with anyio.fail_after(CHROMIUM_TIMEOUT_S):
        done = await anyio.run_process(argv, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    page = Tables()
    page.feed(done.stdout.decode())
    return page


class DevTools:
    """One headless Chromium driven over the DevTools protocol on a pipe (blocking calls:
    the test runs them in a worker thread).

    Chromium reads commands on fd 3 and writes replies and events on fd 4; bash moves our
    pipe ends there (``/usr/bin/chromium`` is a shell wrapper that execs the browser).
    """

    def __init__(self, chromium: str, profile: Path) -> None:
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()
        # above fd 4, so that the redirections below never overwrite each other
        r, w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5) for fd in (to_child, from_child))
        os.close(to_child)
        os.close(from_child)
        script = f'exec "$0" "$@" 3<&{r} 4>&{w} {r}<&- {w}>&-'
        self._proc = subprocess.Popen(
            ["bash", "-c", script, chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(r, w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r)
        os.close(w)
        self._buf = b""
        self._next_id = 0
        self._session = ""

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one command (to the attached page once there is one) and wait for its reply."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session:
            msg["sessionId"] = self._session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + CDP_CALL_TIMEOUT_S
        while True:
            while b"\0" in self._buf:
                raw, _, self._buf = self._buf.partition(b"\0")
                reply = json.loads(raw)
                if reply.get("id") == self._next_id:  # anything else is an event
                    assert "error" not in reply, (method, reply)
                    result: dict[str, Any] = reply["result"]
                    return result
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no DevTools reply to {method} in {CDP_CALL_TIMEOUT_S} s"
            chunk = os.read(self._in, 1 << 16)
            assert chunk, "Chromium closed the DevTools pipe"
            self._buf += chunk

    def open(self, url: str) -> None:
        """Open ``url`` in a new page and attach to it."""
        target = self.call("Target.createTarget", {"url": url})["targetId"]
        self._session = self.call("Target.attachToTarget",
                                  {"targetId": target, "flatten": True})["sessionId"]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (None while it throws)."""
        out = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return None if "exceptionDetails" in out else out["result"].get("value")

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait(timeout=10)
        os.close(self._in)
        os.close(self._out)


def watch_page_update(chromium: str, url: str, profile: Path, shown: int) -> tuple[str, bool]:
    """Keep the page open until its polling shows a height above ``shown`` and above the
    one it showed first.

    Returns the DOM at that moment (a consistent one: summary and blocks from the same
    refresh) and whether it is still the document first loaded (no reload happened).
    """
    browser = DevTools(chromium, profile)
    try:
        browser.open(url + "/")
        deadline = time.monotonic() + LIVE_TIMEOUT_S
        while browser.evaluate("document.querySelectorAll('#blocks td').length") in (None, 0):
            assert time.monotonic() < deadline, "the page never rendered blocks"
            time.sleep(0.1)
        browser.evaluate("window.ffFirstLoad = true")
        first = Tables()
        first.feed(str(browser.evaluate("document.documentElement.outerHTML")))
        shown = max(shown, summary_height(first))  # a fresh load already shows newer blocks
        while True:
            html = str(browser.evaluate("document.documentElement.outerHTML"))
            page = Tables()
            page.feed(html)
            rows = body_rows(page, "blocks")
            if rows and int(rows[0][0]) > shown and summary_height(page) == int(rows[0][0]):
                return html, browser.evaluate("window.ffFirstLoad === true") is True
            assert time.monotonic() < deadline, f"the open page never showed a block above {shown}"
            time.sleep(0.25)
    finally:
        browser.close()


async def get(url: str, path: str) -> Any:
    return await anyio.to_thread.run_sync(lambda: client.get(url, path))


async def wait_for(url: str, what: str, ok: Any, *, timeout_s: float = 20.0) -> dict[str, Any]:
    """Poll /status until ``ok(validator view)``."""
    with anyio.fail_after(timeout_s):
        while True:
            view: dict[str, Any] = (await get(url, "/status"))["validator"]
            if ok(view):
                return view
            await anyio.sleep(0.1)
    raise AssertionError(what)  # pragma: no cover - fail_after raises first


async def screenshot(chromium: str, url: str, profile: Path, out: Path) -> None:
    """A PNG of the page (``FOCUSFLOW_SCREENSHOT=path``: the docs' picture of it)."""
    argv = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--hide-scrollbars",
            "--window-size=960,1000", f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
            f"--screenshot={out.resolve()}", url + "/"]
    with anyio.fail_after(CHROMIUM_TIMEOUT_S):
        done = await anyio.run_process(argv, check=False)
    assert done.returncode == 0 and out.stat().st_size > 0, done.stderr.decode(errors="replace")[-2000:]


def summary_height(page: Tables) -> int:
    found = re.search(r"height (\d+)", page.texts.get("summary", ""))
    assert found is not None, page.texts.get("summary")
    return int(found.group(1))


async def check_blocks(page: Tables, url: str) -> int:
    """Every block row is a block the node finalized (height and digest); returns the top."""
    rows = body_rows(page, "blocks")
    assert rows, "no blocks rendered"
    heights = [int(r[0]) for r in rows]
    assert heights == list(range(heights[0], heights[0] - len(heights), -1)), heights
    held = dict(await get(url, f"/v1/blocks?arg={heights[-1]}:{heights[0]}"))
    for h, digest_prefix in ((int(r[0]), r[1]) for r in rows):
        assert len(digest_prefix) == 16 and held[h].startswith(digest_prefix), (h, digest_prefix)
    assert summary_height(page) == heights[0]
    return heights[0]


async def test_page_in_chromium_shows_tree_blocks_top_of_pi_and_polls_new_blocks(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    net = Devnet(tmp_path / "net", validators=2, leader_timeout_ms=500)
    net.setup()
    settings = [load_settings(n.home / "config" / "node.toml") for n in net.nodes]
    configure_logging(fmt="json", stream=io.StringIO())
    stop = anyio.Event()
    started: list[int] = []
    try:
        async with anyio.create_task_group() as tg:
            for s in settings:
                tg.start_soon(partial(run_node, s, stop=stop,
                                      on_started=lambda _p2p, http: started.append(http)))
            with anyio.fail_after(10):
                while len(started) < 2:
                    await anyio.sleep(0.02)
            url = net.nodes[0].url
            work = Workload(chain_id=net.chain_id, seed=5, links_per_tx=LINKS_PER_TX)
            txs, tags = work.txs(TXS)
            reply = await anyio.to_thread.run_sync(lambda: client.submit(url, txs, tags))
            assert int(reply["accepted"]) > 0, reply
            # every link not shed (QoS sheds with a counted Reject) is committed: π, which
            # the node computes from its link index, no longer changes
            await wait_for(url, "links committed", lambda v: v["links_committed"] >= (
                TXS - v["counters"]["rejected"]) * LINKS_PER_TX > 0)
            top = await get(url, "/v1/top?arg=10")
            status = await get(url, "/status")

            first = await render(chromium, url, tmp_path / "profile")
            assert "error" not in first.texts["summary"], first.texts["summary"]
            assert first.texts["title"] == "focusflow node node0"
            tree = body_rows(first, "actors")
            assert [r[0].replace("\u00a0", "") for r in tree] == [a["path"] for a in status["actors"]]
            assert [r[0] for r in tree] == ["/user/node", "\u00a0\u00a0/user/node/validator"]
            assert [r[1] for r in tree] == ["NodeSupervisor", "Validator"]
            rendered_top = body_rows(first, "top")
            assert [r[0] for r in rendered_top] == [cid_short(t["cid"]) for t in top] and top
            assert first.classes["stall"] == "moving", first.texts["stall"]
            assert first.texts["stall"].startswith("chain moving: block ")
            assert re.fullmatch(r"height: \d+ \(last \d+ s\)", first.texts["label-height"])
            assert "round" in first.texts["consensus"] and body_rows(first, "votes")
            for row, t in zip(rendered_top, top, strict=True):
                assert float(row[1]) == pytest.approx(t["focus"], rel=1e-3)
                assert int(row[2]) == t["inbound_links"]
            shown = await check_blocks(first, url)

            # live: the open page's own polling shows newer blocks, without a reload
            html, same_document = await anyio.to_thread.run_sync(
                lambda: watch_page_update(chromium, url, tmp_path / "profile2", shown))
            later = Tables()
            later.feed(html)
            assert same_document, "the page was reloaded instead of updating itself"
            assert await check_blocks(later, url) > shown
            shot = os.environ.get(SCREENSHOT_ENV)
            if shot:  # docs/img/node-page.png: charts need some history (and links) first
                for _ in range(int(SCREENSHOT_HISTORY_S)):
                    more, more_tags = work.txs(4)
                    await anyio.to_thread.run_sync(partial(client.submit, url, more, more_tags))
                    await anyio.sleep(1.0)
                await screenshot(chromium, url, tmp_path / "profile3", Path(shot))
            stop.set()
    finally:
        structlog.reset_defaults()
