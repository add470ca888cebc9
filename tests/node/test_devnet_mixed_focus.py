"""A live devnet whose validators solve the exact π on different hardware (issue 17).

node0 runs its focus on WebGPU (Mesa's llvmpipe here, a GPU on a real host), the others
on the CPU. π is defined in integers (docs/kernels.md, "Exact focus"), so every header
carries the same π root whoever computed it: the test checks every π root and every state
root (which binds π one block later) at every common height, and that node0 really
solved on WebGPU (its /status names the solver; a fallback would say "cpu").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from focusflow.kernels import BackendUnavailable, backend_for
from focusflow.node import client
from focusflow.node.chain import PI_ROOT_UNCOMMITTED
from focusflow.node.focus import EMPTY_ROOT
from focusflow.topology.devnet import Devnet, Workload, check_agreement, check_pi_agreement
from tests.node.test_devnet_e2e import feed, wait_until

pytestmark = [pytest.mark.timeout(150), pytest.mark.webgpu]


def test_a_fleet_of_webgpu_and_cpu_validators_agrees_on_every_pi_root(tmp_path: Path) -> None:
    try:
        backend_for("webgpu")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    net = Devnet(tmp_path, validators=4, leader_timeout_ms=500)
    net.focus_backends[0] = "webgpu"
    net.setup()
    net.start_all()
    try:
        net.wait_ready()
        work = Workload(chain_id=net.chain_id, seed=11, links_per_tx=20)
        assert feed(net, work, 4.0) > 0
        wait_until(lambda: min(net.status(i)["validator"]["pi"]["count"] for i in range(4)) >= 3,
                   40, "every validator to solve π for 3 blocks")
        views = [net.status(i)["validator"]["pi"] for i in range(4)]
        assert [v["solver"] for v in views] == ["webgpu", "cpu", "cpu", "cpu"], views
        assert all(v["exact"] for v in views)
        target = min(net.status(i)["validator"]["finalized_height"] for i in range(4))
        verdict = check_pi_agreement(net, [0, 1, 2, 3])
        assert verdict.agree and verdict.heights_checked >= target, verdict.describe()
        assert check_agreement(net, [0, 1, 2, 3]).agree
        roots = [client.get(net.nodes[i].url, f"/v1/pi_roots?arg=1:{target}") for i in range(4)]
        assert all(r == roots[0] for r in roots) and len(roots[0]) == target
        moved = {pi for _, pi in roots[0]} - {PI_ROOT_UNCOMMITTED.hex(), EMPTY_ROOT.hex()}
        assert len(moved) >= 3, "π must have moved (else agreement proves nothing)"
        states = [client.get(net.nodes[i].url, f"/v1/state_roots?arg=1:{target}") for i in range(4)]
        assert all(s == states[0] for s in states)
    finally:
        codes = [net.terminate(i) for i in range(4)]
    assert codes == [0, 0, 0, 0], codes
