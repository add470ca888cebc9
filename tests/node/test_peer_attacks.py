"""A pinned peer cannot disable a node (issue 16, finding 2), on the node's own tree and
policy (``node_tree``, ``node_policy``): the attacker is a committee member on the same
``LoopbackNetwork`` and sends what the issue's probes sent."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from focusflow.actors.consensus.crypto import Signer
from focusflow.node.messages import Blocks, BlocksFrom, Query, SubmitTxs
from focusflow.node.validator import VALIDATOR_PATH, CommitteeEntry, ValidatorSettings
from focusflow.supervisor import ActorCrashed, LoopbackNetwork
from focusflow.topology.node_tree import node_policy, node_tree
from focusflow.wire import Address
from focusflow.wire.system import Exit, Watch

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def settings(tmp: Path) -> ValidatorSettings:
    seeds = [bytes([i + 1]) * 32 for i in range(4)]
    committee = tuple(CommitteeEntry(f"v{i}", Signer(s).public_key, 1)
                      for i, s in enumerate(seeds))
    return ValidatorSettings(node_name="v0", role="validator", chain_id="attack",
                             committee=committee, validator_seed=seeds[0])


async def test_a_pinned_validator_peer_cannot_stop_crash_or_bloat_a_node(tmp_path: Path) -> None:
    vs = settings(tmp_path)
    net = LoopbackNetwork()
    async with net.system("v0") as v0, net.system("v1") as v1, net.system("outsider") as out:
        v0.node.set_remote_policy(node_policy(vs.committee, []))
        root = v0.spawn_spec(node_tree(vs))
        await v0.wait_started(root)
        validator = v0.node.ref("v0", VALIDATOR_PATH)
        uid = v0.node.incarnation(validator)
        # Stop to the root, forged Exits of the validator (incarnation from /actors)
        v1.node._request_stop(v1.node.ref("v0", "/user/node"), "pwned")
        for _ in range(5):
            v1.node._send_system(None, v1.node.ref("v0", "/user/node"),
                                 Exit(Address("v0", VALIDATOR_PATH), "error:forged", uid))
        # Watch flood with 64 KiB watcher paths, then with short ones beyond the bound
        for i in range(50):
            v1.node._send_system(None, validator, Watch(Address("v1", f"/{i}" + "w" * 65_536)))
        for i in range(400):
            v1.node._send_system(None, validator, Watch(Address("v1", f"/user/w{i}")))
        # a query a peer has no business asking (clients query over HTTP)
        with pytest.raises(ActorCrashed) as refused:
            await v1.node.ref("v0", VALIDATOR_PATH).ask(Query("links", "00"))
        assert refused.value.error_type == "Unauthorized"
        # an unpinned node may not even ask for blocks; a validator peer may
        with pytest.raises(ActorCrashed):
            await out.node.ref("v0", VALIDATOR_PATH).ask(BlocksFrom(1, 1))
        assert isinstance(await v1.node.ref("v0", VALIDATOR_PATH).ask(BlocksFrom(1, 1)), Blocks)
        await anyio.sleep(0.2)
        assert v0.node.is_alive(root) and v0.node.incarnation(validator) == uid
        cell = v0.node._cells[VALIDATOR_PATH]
        assert len(cell.watchers) == 256  # the bound per peer, nothing of the 64 KiB paths
        refusals = v0.node.gate.refusals
        assert refusals[("v1", "stop_from_remote")] == 1
        assert refusals[("v1", "exit_from_remote")] == 5
        assert refusals[("v1", "bad_route")] == 50
        assert refusals[("v1", "watch_table_full")] == 400 - 256
        net.detach("v1")
        assert not cell.watchers


def test_the_policy_by_role() -> None:
    from focusflow.net import PeerSpec
    from focusflow.node.messages import ConsensusFrame

    committee = [CommitteeEntry("v0", bytes(32), 1), CommitteeEntry("v1", bytes(32), 1)]
    policy = node_policy(committee, [PeerSpec("f", "h", 1, bytes(32), b"")])
    assert policy.allows("v1", VALIDATOR_PATH, ConsensusFrame)
    assert not policy.allows("f", VALIDATOR_PATH, ConsensusFrame)
    assert policy.allows("f", VALIDATOR_PATH, SubmitTxs) and policy.allows("f", VALIDATOR_PATH, BlocksFrom)
    assert not any(policy.allows(n, VALIDATOR_PATH, Query) for n in ("v1", "f", "x"))
    assert not policy.allows("v1", "/user/node", ConsensusFrame)


def test_a_peer_role_comes_from_the_config_and_the_genesis_wins(tmp_path: Path) -> None:
    from focusflow.node.config import ConfigError, init_home, load_settings, peer_toml

    other = init_home(tmp_path / "other", name="lite")
    cert = tmp_path / "lite.pem"
    cert.write_bytes((tmp_path / "other" / "config" / "node_cert.pem").read_bytes())
    entry = peer_toml("lite", "127.0.0.1:1", other.node_public_key, str(cert))
    init_home(tmp_path / "me", name="me", peers_toml=entry + 'role = "light"\n')
    s = load_settings(tmp_path / "me" / "config" / "node.toml")
    assert [p.role for p in s.peers] == ["light"]
    policy = node_policy([CommitteeEntry("me", bytes(32), 1)], s.peers)
    assert policy.roles == {"me": "validator", "lite": "light"}
    assert not policy.allows("lite", VALIDATOR_PATH, SubmitTxs)
    assert node_policy([CommitteeEntry("lite", bytes(32), 1)], s.peers).roles["lite"] == "validator"
    config = tmp_path / "me" / "config" / "node.toml"
    config.write_text(config.read_text().replace('role = "light"', 'role = "validator"'))
    with pytest.raises(ConfigError, match="role"):
        load_settings(config)
