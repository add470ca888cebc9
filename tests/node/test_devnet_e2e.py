"""End to end: a 4-validator devnet as processes; one is SIGKILLed mid-stream and restarted.

Checks that the restarted validator catches up by block sync, that every block it had
committed before the kill is still there with the same digest, that all validators agree
block by block, and that it then signs again (issue 8): its signature appears in later
notarisations, above the watermark it persisted, and no peer saw it sign anything twice.
Node 3 runs on trio, the others on asyncio.

π (issue 8/9 follow-up): every header commits π, so the quorum signatures the restarted
validator adds prove it computed the same π root as the others from the state it rebuilt
out of SQLite; the test also compares the π roots themselves, before and after the kill.

π in the state (W3): block h + 1 writes π of block h into ``/graph/pi``, so the state
roots bind π; the test compares every validator's state roots at every common height
(before and after the kill: the restarted one rebuilt which slices the state holds from
SQLite and wrote what the others wrote), and a light client verifies a particle's focus
from the restarted validator and from a peer (``focusflow query focus``).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import pytest

from focusflow.actors.consensus import codec
from focusflow.cli import main as cli_main
from focusflow.node import client
from focusflow.node.chain import PI_ROOT_UNCOMMITTED
from focusflow.node.focus import EMPTY_ROOT
from focusflow.topology.devnet import Devnet, Workload, check_agreement, check_pi_agreement

pytestmark = pytest.mark.timeout(150)


def feed(net: Devnet, work: Workload, seconds: float, *, per_batch: int = 10) -> int:
    """Submit link txs round robin to running validators for ``seconds``; txs accepted."""
    accepted, turn = 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        alive = net.alive()
        txs, tags = work.txs(per_batch)
        target = net.nodes[alive[turn % len(alive)]]
        turn += 1
        with contextlib.suppress(client.NodeUnavailable):  # a node may be down right now
            accepted += int(client.submit(target.url, txs, tags, timeout_s=5)["accepted"])
        time.sleep(0.1)
    return accepted


def wait_until(cond, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


# One rerun, kept as a margin for a loaded 2-core CI box (live processes, wall-clock
# deadlines). The two causes of its earlier failures are fixed: the guard a block ahead of
# the log (issue 16 finding 1: the pending share is durable and offered again) and the
# check itself (it read node0's record, which holds only the first quorum node0 gathered).
# A real regression fails both attempts.
@pytest.mark.flaky(reruns=1)
@pytest.mark.parametrize("offload_io", [False, True], ids=["commits-on-loop", "commits-in-thread"])
def test_validator_killed_with_sigkill_restarts_catches_up_and_loses_nothing(
        tmp_path: Path, offload_io: bool) -> None:
    net = Devnet(tmp_path, validators=4, leader_timeout_ms=500, offload_io=offload_io)
    net.backends[3] = "trio"
    net.setup()
    net.start_all()
    try:
        net.wait_ready()
        work = Workload(chain_id=net.chain_id, seed=7, links_per_tx=20)
        assert feed(net, work, 3.0) > 0
        victim = 3
        before = net.status(victim)["validator"]
        h_before = before["finalized_height"]
        assert h_before > 0 and before["links_committed"] > 0
        digests_before = client.get(net.nodes[victim].url, f"/v1/blocks?arg=1:{h_before}")
        pi_before = client.get(net.nodes[victim].url, f"/v1/pi_roots?arg=1:{h_before}")
        state_before = client.get(net.nodes[victim].url, f"/v1/state_roots?arg=1:{h_before}")
        peer_roots = client.get(net.nodes[0].url, f"/v1/state_roots?arg=1:{h_before}")
        assert len(state_before) == h_before and peer_roots == state_before[:len(peer_roots)]
        assert len(pi_before) == h_before and pi_before[-1][1] not in (
            PI_ROOT_UNCOMMITTED.hex(), EMPTY_ROOT.hex())
        net.kill(victim)  # SIGKILL mid-stream: nothing runs on the way down
        feed(net, work, 2.0)  # the other three (a quorum) keep committing
        net.start(victim)
        net.wait_ready([victim])
        after = net.status(victim)["validator"]
        signed_before = after["last_signed"]  # read back from last_signed_state.json
        assert signed_before["round"] > 0 and signed_before["height"] >= h_before
        assert after["finalized_height"] >= h_before  # nothing committed was lost...
        assert client.get(net.nodes[victim].url, f"/v1/blocks?arg=1:{h_before}") == digests_before
        assert client.get(net.nodes[victim].url, f"/v1/pi_roots?arg=1:{h_before}") == pi_before
        assert client.get(net.nodes[victim].url, f"/v1/state_roots?arg=1:{h_before}") == state_before
        feed(net, work, 2.0)
        target = max(net.status(i)["validator"]["finalized_height"] for i in range(3))
        wait_until(lambda: net.status(victim)["validator"]["finalized_height"] >= target, 40,
                   f"node{victim} to catch up to height {target}")
        # A block counts as finalized once its row is durable (written by each node's
        # worker thread): a peer may report it a moment after another; wait for all.
        wait_until(lambda: min(net.status(i)["validator"]["finalized_height"]
                               for i in (0, 1, 2, victim)) >= target, 20,
                   f"every validator to report height {target}")
        verdict = check_agreement(net, [0, 1, 2, victim])
        assert verdict.agree and verdict.heights_checked >= target, verdict.describe()
        # A restarted validator signs again only once the chain is past the height its
        # double-sign guard recorded (it may have signed a block that no node logged
        # final before the kill), so the chain must keep making blocks meanwhile: keep a
        # trickle of load. (On an idle chain it stays a follower: issue 16 finding 1.)
        def rejoined() -> bool:
            feed(net, work, 0.3)
            return bool(net.status(victim)["validator"]["mode"] == "consensus")

        wait_until(rejoined, 30, f"node{victim} to rejoin consensus")
        rejoined_at = net.status(victim)["validator"]["finalized_height"]
        feed(net, work, 3.0)
        mine = []
        def signs_again() -> bool:
            # Each node logs the first quorum of shares *it* gathered: node0's record of a
            # block need not hold the restarted node's share (on a loaded box its share
            # can arrive fourth at node0 for every block). What proves it signs again is
            # its own log: a block it finalized as a validator holds its own share, and
            # the same digest at node0 says it signed the block everyone committed.
            feed(net, work, 0.3)
            top = net.status(victim)["validator"]["finalized_height"]
            for h in range(rejoined_at + 1, top + 1):
                theirs = client.get(net.nodes[0].url, f"/v1/block?arg={h}")
                ours = client.get(net.nodes[victim].url, f"/v1/block?arg={h}")
                if (theirs is not None and ours is not None and victim in ours["signers"]
                        and ours["digest"] == theirs["digest"]):
                    mine.append(h)
            return bool(mine)
        wait_until(signs_again, 40, f"node{victim}'s signature on a committed block after its restart")
        assert min(mine) > signed_before["height"]
        roots = dict(client.get(net.nodes[0].url, f"/v1/pi_roots?arg={min(mine)}:{max(mine)}"))
        for h in mine:  # what it signed after the restart commits the others' π
            header = codec.decode_block_header(bytes.fromhex(
                client.get(net.nodes[victim].url, f"/v1/block?arg={h}")["header"]))
            assert header.pi_root.hex() == roots[h] and header.pi_root != PI_ROOT_UNCOMMITTED
        st = net.status(victim)
        assert st["validator"]["counters"]["rejoins"] == 1
        assert st["validator"]["last_signed"]["round"] > signed_before["round"]
        assert all(net.status(i)["validator"]["counters"]["misbehaviours"] == 0 for i in range(3)), \
            "a peer saw an equivocation, a double vote or a conflicting block share"
        verdict = check_agreement(net, [0, 1, 2, victim])
        assert verdict.agree, verdict.describe()
        checked = verdict.heights_checked
        pi_verdict = check_pi_agreement(net, [0, 1, 2, victim])
        assert pi_verdict.agree and pi_verdict.heights_checked >= checked, pi_verdict.describe()
        pi_root = dict(client.get(net.nodes[0].url, f"/v1/pi_roots?arg={checked}:{checked}"))[checked]
        assert pi_root not in ("", PI_ROOT_UNCOMMITTED.hex(), EMPTY_ROOT.hex())
        assert st["validator"]["counters"]["synced_blocks"] > 0
        assert st["validator"]["links_committed"] >= before["links_committed"]
        state_views = [client.get(net.nodes[i].url, f"/v1/state_roots?arg=1:{checked}")
                       for i in (0, 1, 2, victim)]
        assert len(state_views[0]) == checked and all(v == state_views[0] for v in state_views)
        assert st["validator"]["pi"]["in_state"] and st["validator"]["pi"]["slices_written"] > 0
        verified_focus(net, victim)
        others = [net.status(i)["validator"] for i in range(3)]
        assert {o["state_root"] for o in others if o["state_height"] == st["validator"]["state_height"]} <= {
            st["validator"]["state_root"]}
    finally:
        codes = [net.terminate(i) for i in range(4)]
    assert codes == [0, 0, 0, 0], codes  # SIGTERM stops every node in order, exit 0


def verified_focus(net: Devnet, victim: int) -> None:
    """``focusflow query focus`` verifies the top particle's π from the restarted
    validator and from a peer against the genesis committee; both are committed π."""
    top = client.get(net.nodes[0].url, "/v1/top?arg=1")[0]["cid"]
    genesis = net.nodes[0].home / "config" / "genesis.json"
    for i in (victim, 0):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli_main(["query", "focus", top, "--url", net.nodes[i].url,
                             "--genesis", str(genesis), "--output", "json"])
        assert code == 0, f"node{i}: the focus answer did not verify"
        got = json.loads(out.getvalue())
        assert got["verified"] and got["q"] > 0 and got["pi_height"] == got["state_height"] - 1
    answer = client.get(net.nodes[victim].url, f"/v1/focus?cid={top}")  # the ?cid= form
    assert answer.get("retry") or (answer["cid"] == top and answer["q"] > 0)
