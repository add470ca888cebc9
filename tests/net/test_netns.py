"""Multi-host: 4 validators in separate network namespaces joined by veth pairs to a
bridge; one validator's link is cut (a partition) and healed, then a 2|2 split (no
quorum anywhere: nothing finalizes) is healed.

The test builds the namespaces itself (``ip netns`` + veth + bridge) and skips cleanly
when it cannot (not root, no iproute2, or no permission to create namespaces).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from focusflow.node import client
from focusflow.topology.devnet import Devnet, Workload, check_agreement
from tests.support import require_tool

pytestmark = pytest.mark.timeout(150)
N = 4


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=10)


class Fabric:
    """Namespaces n0..n3 and sw (a bridge); the test process joins the bridge too."""

    def __init__(self) -> None:
        self.tag = f"ff{os.getpid() % 10000}"
        self.subnet = f"10.77.{os.getpid() % 250}"
        self.sw = f"{self.tag}sw"
        self.made: list[str] = []

    def ns(self, i: int) -> str:
        return f"{self.tag}n{i}"

    def host(self, i: int) -> str:
        return f"{self.subnet}.{i + 1}"

    def up(self) -> None:
        t, sw = self.tag, self.sw
        sh("ip", "netns", "add", sw)
        self.made.append(sw)
        sh("ip", "netns", "exec", sw, "ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "netns", "exec", sw, "ip", "link", "set", "br0", "up")
        for i in range(N):
            ns = self.ns(i)
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "link", "add", f"{t}a{i}", "type", "veth", "peer", "name", f"{t}b{i}")
            sh("ip", "link", "set", f"{t}a{i}", "netns", ns)
            sh("ip", "link", "set", f"{t}b{i}", "netns", sw)
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{self.host(i)}/24", "dev", f"{t}a{i}")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", f"{t}a{i}", "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            sh("ip", "netns", "exec", sw, "ip", "link", "set", f"{t}b{i}", "master", "br0")
            sh("ip", "netns", "exec", sw, "ip", "link", "set", f"{t}b{i}", "up")
        sh("ip", "link", "add", f"{t}r", "type", "veth", "peer", "name", f"{t}rb")
        self.made.append(f"link:{t}r")
        sh("ip", "link", "set", f"{t}rb", "netns", sw)
        sh("ip", "netns", "exec", sw, "ip", "link", "set", f"{t}rb", "master", "br0")
        sh("ip", "netns", "exec", sw, "ip", "link", "set", f"{t}rb", "up")
        sh("ip", "addr", "add", f"{self.subnet}.254/24", "dev", f"{t}r")
        sh("ip", "link", "set", f"{t}r", "up")

    def cut(self, i: int, *, up: bool = False) -> None:
        """Cut (or heal) validator i's cable at the bridge."""
        sh("ip", "netns", "exec", self.sw, "ip", "link", "set", f"{self.tag}b{i}",
           "up" if up else "down")

    def down(self) -> None:
        for name in reversed(self.made):
            if name.startswith("link:"):
                subprocess.run(["ip", "link", "del", name[5:]], capture_output=True, check=False)
            else:
                subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@pytest.fixture
def fabric() -> Iterator[Fabric]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    require_tool("ip")
    probe = subprocess.run(["ip", "netns", "add", f"ffprobe{os.getpid()}"], capture_output=True,
                           check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot create network namespaces: {probe.stderr.decode().strip()}")
    subprocess.run(["ip", "netns", "del", f"ffprobe{os.getpid()}"], capture_output=True, check=False)
    fab = Fabric()
    try:
        fab.up()
        yield fab
    finally:
        fab.down()


def feed(net: Devnet, work: Workload, seconds: float, targets: list[int]) -> None:
    end, turn = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        txs, tags = work.txs(5)
        with contextlib.suppress(client.NodeUnavailable):
            client.submit(net.nodes[targets[turn % len(targets)]].url, txs, tags, timeout_s=3)
        turn += 1
        time.sleep(0.1)


def height(net: Devnet, i: int) -> int:
    return int(net.status(i)["validator"]["finalized_height"])


def test_validators_in_namespaces_survive_cut_links_and_heal(fabric: Fabric, tmp_path: Path) -> None:
    net = Devnet(tmp_path, validators=N, leader_timeout_ms=500,
                 hosts=[fabric.host(i) for i in range(N)],
                 prefixes=[("ip", "netns", "exec", fabric.ns(i)) for i in range(N)])
    net.setup()
    net.start_all()
    try:
        net.wait_ready()
        work = Workload(chain_id=net.chain_id, seed=3, links_per_tx=10)
        feed(net, work, 2.0, [0, 1, 2, 3])
        assert all(height(net, i) > 0 for i in range(N))
        fabric.cut(3)  # node3 is cut off; 0-2 still hold a quorum
        with pytest.raises(client.NodeUnavailable):  # the cable is really cut
            client.get(net.nodes[3].url, "/status", timeout_s=1)
        height_before = max(height(net, i) for i in range(3))
        feed(net, work, 4.0, [0, 1, 2])
        assert max(height(net, i) for i in range(3)) > height_before  # the majority goes on
        fabric.cut(3, up=True)  # heal
        target = max(height(net, i) for i in range(3))
        deadline = time.monotonic() + 40
        while (h3 := height(net, 3)) < target:
            assert time.monotonic() < deadline, f"node3 stuck at {h3} < {target} after healing"
            time.sleep(0.3)
        verdict = check_agreement(net, list(range(N)))
        assert verdict.agree and verdict.heights_checked >= target, verdict.describe()
        st = net.status(3)
        # the cut was seen (keep-alives stopped) and the link re-established after healing
        assert all(st["peers"][f"node{i}"]["disconnects"] >= 1 for i in range(3)), st["peers"]
        assert st["validator"]["mode"] == "consensus"  # it caught up as a validator, no restart
        # a 2|2 split: neither side holds a quorum, so nothing finalizes; healing resumes
        fabric.cut(2)
        fabric.cut(3)
        time.sleep(3.0)  # let what was in flight settle
        stalled = [height(net, i) for i in (0, 1)]
        feed(net, work, 2.5, [0, 1])
        after = [height(net, i) for i in (0, 1)]
        # at most a block whose quorum of shares was gathered before the split may still
        # finalize; no new block can (its certificates would need a third validator)
        assert all(a <= s + 1 for a, s in zip(after, stalled, strict=True)), (stalled, after)
        fabric.cut(2, up=True)
        fabric.cut(3, up=True)
        deadline = time.monotonic() + 40
        while min(height(net, i) for i in range(N)) <= max(stalled):
            assert time.monotonic() < deadline, "no progress after healing the 2|2 split"
            time.sleep(0.3)
        verdict = check_agreement(net, list(range(N)))
        assert verdict.agree, verdict.describe()
    finally:
        codes = [net.terminate(i) for i in range(N)]
    assert codes == [0] * N, codes
