"""Under a burst above what the validators commit per round, every admitted transaction
still reaches a finalized block exactly once (the shell re-offers what the mempool
dropped), and all validators agree."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from focusflow.node import client
from focusflow.topology.devnet import Devnet, Workload, check_agreement

pytestmark = pytest.mark.timeout(120)


def test_every_admitted_transaction_of_a_burst_is_committed_once(tmp_path: Path) -> None:
    net = Devnet(tmp_path, validators=4)
    net.setup()
    net.start_all()
    try:
        net.wait_ready()
        work = Workload(chain_id=net.chain_id, seed=11, links_per_tx=10)
        accepted = 0
        for k in range(24):
            txs, tags = work.txs(50)
            accepted += int(client.submit(net.nodes[k % 4].url, txs, tags)["accepted"])
            time.sleep(0.05)
        assert accepted == 1200
        deadline = time.monotonic() + 60
        while True:
            links = [net.status(i)["validator"]["links_committed"] for i in range(4)]
            if min(links) >= accepted * 10:
                break
            assert time.monotonic() < deadline, f"links {links} < {accepted * 10}"
            time.sleep(0.5)
        assert max(links) == accepted * 10  # each exactly once (distinct neurons, nonce 0)
        ok, _ = check_agreement(net, [0, 1, 2, 3])
        assert ok
    finally:
        net.stop()
