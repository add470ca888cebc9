"""The state actor under the simulator (with crash faults) and under the live runtime."""

from __future__ import annotations

import random
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from focusflow.actors.state import (
    Proof,
    Reject,
    SqliteStore,
    StateCore,
    TxKind,
    cid_of,
    commit,
    make_tx,
    verify_proof,
)
from focusflow.actors.state import keys as K
from focusflow.actors.state.actor import (
    Account,
    ApplyBlock,
    BlockApplied,
    FocusSliceUpdate,
    GetAccount,
    GetFocus,
    GetHead,
    GetLinks,
    GetProof,
    Head,
    StateActor,
    Subscribe,
)
from focusflow.sim import Simulation
from focusflow.supervisor import Actor, ActorSystem, Node

from .workload import CHAIN, block_txs, genesis_balances, people


def _tamper_signature(raw: bytes) -> bytes:
    from focusflow.actors.state.tx import schema

    with schema.SignedTx.from_bytes(raw) as env:
        body, sig, pub = bytes(env.body), bytearray(env.signature), bytes(env.publicKey)
    sig[7] ^= 0x10
    return bytes(
        schema.SignedTx.new_message(body=body, signature=bytes(sig), publicKey=pub).to_bytes()
    )


def _reference_chain(n_blocks: int) -> tuple[dict[int, list[bytes]], dict[int, bytes]]:
    """Txs and expected root per height, from the core driven directly."""
    store = SqliteStore.open_simulated(chain_id=CHAIN)
    core = StateCore(chain_id=CHAIN, reader=store, tree=store.load_tree(), height=-1)
    commit(store, core, core.genesis(balances=genesis_balances()))
    txs, roots = {}, {0: core.root}
    for h in range(1, n_blocks + 1):
        txs[h] = block_txs(core, h)
        commit(store, core, core.prepare_block(h, txs[h]))
        roots[h] = core.root
    return txs, roots


def _boot(node: Node) -> None:
    node.spawn(
        StateActor, chain_id=CHAIN, genesis_balances=genesis_balances(), sync_latency_ms=4.0,
        tree_checkpoint_blocks=3, name="state",
    )  # fmt: skip


class Sink(Actor):
    """A stand-in rank worker: keeps every BlockApplied it is told."""

    seen: ClassVar[list[BlockApplied]] = []

    async def receive(self, msg: object) -> object:
        if isinstance(msg, BlockApplied):
            Sink.seen.append(msg)
        return None


def test_actor_applies_blocks_answers_queries_and_notifies_subscribers() -> None:
    txs, roots = _reference_chain(4)
    sim = Simulation(7)
    node = sim.add_node("n1", boot=_boot)
    ref = node.ref("n1", "/user/state")
    Sink.seen = []
    node.spawn(Sink, name="rank")
    head = sim.run_until_complete(node.ask(ref, Subscribe("n1", "/user/rank")))
    assert head == Head(0, roots[0])
    for h in range(1, 5):
        reply = sim.run_until_complete(node.ask(ref, ApplyBlock(h, tuple(txs[h]))))
        assert reply.root == roots[h] and reply.reasons() == [None] * len(txs[h])
    sim.run()
    assert [b.height for b in Sink.seen] == [1, 2, 3, 4]
    deltas = Sink.seen[0].deltas()
    assert len(deltas) == int(np.sum(deltas.sign == 1)) > 0
    alice = people()[0].address
    acct = sim.run_until_complete(node.ask(ref, GetAccount(alice)))
    assert isinstance(acct, Account) and acct.nonce > 0 and acct.link_count > 0
    src = bytes(deltas.src[0])
    links = sim.run_until_complete(node.ask(ref, GetLinks(src)))
    assert src in bytes(links.src)
    proof = sim.run_until_complete(node.ask(ref, GetProof(K.balance_key(alice))))
    assert proof.found and proof.root == roots[4]
    assert verify_proof(
        proof.root, K.balance_key(alice), proof.value, Proof.from_bytes(proof.proof)
    )
    # a gap is answered with the head (the sender's fault), not a crash
    assert sim.run_until_complete(node.ask(ref, ApplyBlock(9, ()))) == Head(4, roots[4])
    # a replayed (already committed) block is acknowledged idempotently
    again = sim.run_until_complete(node.ask(ref, ApplyBlock(2, tuple(txs[2]))))
    assert again.replayed and again.root == roots[2]


def test_focus_slices_are_committed_and_queryable() -> None:
    sim = Simulation(3)
    node = sim.add_node("n1", boot=_boot)
    ref = node.ref("n1", "/user/state")
    cid = cid_of(b"popular")
    core_shard = StateCore(chain_id=CHAIN, reader={}, tree=_empty_tree(), height=0).focus_shard(cid)  # type: ignore[arg-type]
    cids = np.frombuffer(cid + cid_of(b"other"), np.uint8)
    upd = FocusSliceUpdate(shard=core_shard, cids=cids, values=np.array([123456, 7], np.uint64))
    sim.run_until_complete(node.ask(ref, ApplyBlock(1, (), (upd,))))
    focus = sim.run_until_complete(node.ask(ref, GetFocus(cid)))
    assert focus.found and focus.value == 123456
    assert not sim.run_until_complete(node.ask(ref, GetFocus(cid_of(b"nobody")))).found


def _empty_tree():  # type: ignore[no-untyped-def]
    from focusflow.actors.state import SparseMerkleTree

    return SparseMerkleTree()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulated_node_crashes_keep_every_acknowledged_block_and_nothing_else(seed: int) -> None:
    n_blocks = 10
    txs, roots = _reference_chain(n_blocks)
    sim = Simulation(seed)
    node = sim.add_node("n1", boot=_boot, torn_writes=True)
    rng = random.Random(seed)
    acked: dict[int, bytes] = {}
    h, crashes, lost = 1, 0, 0
    while h <= n_blocks:
        node = sim.node("n1")
        ref = node.ref("n1", "/user/state")
        if rng.random() < 0.4:  # crash somewhere inside this block's handling
            sim.call_later(rng.uniform(0.0, 6.0), lambda: sim.crash_node("n1"))
        try:
            reply = sim.run_until_complete(
                node.ask(ref, ApplyBlock(h, tuple(txs[h])), timeout_ms=200)
            )
        except Exception:
            if sim.is_up("n1"):
                sim.run(for_ms=20)
            if sim.is_up("n1"):  # the crash was scheduled after the reply: keep going
                continue
            crashes += 1
            node = sim.restart_node("n1")
            head = sim.run_until_complete(node.ask(node.ref("n1", "/user/state"), GetHead()))
            assert head.height in (h - 1, h), "lost an acknowledged block or invented one"
            assert head.root == roots[head.height]
            lost += head.height == h - 1
            h = head.height + 1
            continue
        assert reply.root == roots[h]
        acked[h] = reply.root
        h += 1
    node = sim.node("n1")
    head = sim.run_until_complete(node.ask(node.ref("n1", "/user/state"), GetHead()))
    assert head == Head(n_blocks, roots[n_blocks])
    assert all(roots[k] == r for k, r in acked.items())
    assert crashes > 0, "the seed should produce at least one crash"
    print(
        f"seed {seed}: {crashes} crashes, {lost} in-flight blocks lost, {crashes - lost} durable before the ack"
    )


@pytest.mark.anyio
async def test_live_actor_on_a_sqlite_file_survives_a_restart(tmp_path: Path) -> None:
    txs, roots = _reference_chain(3)
    db = str(tmp_path / "state.sqlite")
    async with ActorSystem("live", storage_dir=tmp_path) as system:
        ref = system.spawn(
            StateActor,
            chain_id=CHAIN,
            genesis_balances=genesis_balances(),
            name="state",
        )
        for h in (1, 2):
            reply = await ref.ask(ApplyBlock(h, tuple(txs[h])), timeout_ms=30_000)
            assert reply.root == roots[h]
        bad = make_tx(
            people()[0],
            chain_id="elsewhere",
            nonce=0,
            kind=TxKind.LINK,
            links=[(cid_of(b"x"), cid_of(b"y"))],
        )
        forged = _tamper_signature(txs[3][0])
        # garbage first (undecodable: no signature slot), then valid txs, a forged
        # signature and another chain's tx: the threaded verification must stay aligned
        block = (b"\x00" * 16, *txs[3], forged, bad)
        reply = await ref.ask(ApplyBlock(3, block), timeout_ms=30_000)
        assert reply.root == roots[3]
        assert reply.reasons() == [
            Reject.MALFORMED,
            *([None] * len(txs[3])),
            Reject.BAD_SIGNATURE,
            Reject.WRONG_CHAIN,
        ]
    async with ActorSystem("live", storage_dir=tmp_path) as system:
        ref = system.spawn(StateActor, chain_id=CHAIN, name="state")
        head = await ref.ask(GetHead())
        assert head == Head(3, roots[3])
    store = SqliteStore.open(db, chain_id=CHAIN)
    assert store.verify_full() and store.block_roots() == roots
    store.close()
