"""Scenario "state": the state actor (``focusflow.actors.state``) under chaos.

Node ``s0`` runs the real ``StateActor`` (its ``ctx.database``: in the simulator a SQLite
image committed and synced to the node's disk before a block is acknowledged) under a
supervisor; node ``c0`` runs a ``Feeder`` that asks it to apply a fixed chain of signed
blocks of cyberlinks, one after the other, retrying on timeouts and following the head
the actor reports after restarts.

Byzantine behaviour ``state.invalid_signature_flood``: the client adds forged copies of
real transactions (one flipped bit each: mostly bad signatures) to every block; the actor
must reject them with no effect on state, which the same invariant checks (the root must
stay the reference chain's, computed without them).

Invariant ``state.acknowledged_blocks_durable`` (component "state"), checked after every
step: whenever the state actor is running, its height is at least the highest height it
ever acknowledged, and its root is the reference chain's root at that height — so no
acknowledged block (no committed cyberlink) is lost by node crashes, actor kills, failed
fsyncs or full disks, and nothing is invented. The acknowledged roots are checked against
the reference chain too.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from focusflow.actors.state import (
    Neuron,
    SqliteStore,
    StateCore,
    TxKind,
    cid_of,
    commit,
    make_tx,
)
from focusflow.actors.state.actor import ApplyBlock, BlockApplied, Head, StateActor
from focusflow.chaos.faults import register_byzantine
from focusflow.chaos.invariants import register_invariant
from focusflow.chaos.quorum import QTick
from focusflow.chaos.world import ChaosWorld, provide, provided
from focusflow.sim import Simulation
from focusflow.sim.scenarios import register_scenario
from focusflow.supervisor import (
    Actor,
    ActorError,
    ChildSpec,
    Node,
    Supervisor,
    SupervisorFlags,
)

CHAIN = "focusflow-chaos"
NEURONS = 4
LINKS_PER_TX = 8
BLOCKS_DEFAULT = 40
BLOCKS_MAX = 10_000
STATE_PATH = "/user/sup/state"
FEED_EVERY_MS = 10.0
ASK_TIMEOUT_MS = 200
FLOOD_DEFAULT = 16
FLOOD_MAX = 1_000


def _people() -> list[Neuron]:
    return [Neuron.from_seed(bytes([0x60 + i]) * 32) for i in range(NEURONS)]


def _genesis() -> dict[bytes, int]:
    return {p.address: 10**6 for p in _people()}


@functools.lru_cache(maxsize=4)
def reference_chain(blocks: int) -> tuple[dict[int, tuple[bytes, ...]], dict[int, bytes]]:
    """Txs and the expected state root per height, from the core driven directly."""
    assert 1 <= blocks <= BLOCKS_MAX
    store = SqliteStore.open_simulated(chain_id=CHAIN)
    core = StateCore(chain_id=CHAIN, reader=store, tree=store.load_tree(), height=-1)
    commit(store, core, core.genesis(balances=_genesis()))
    txs: dict[int, tuple[bytes, ...]] = {}
    roots = {0: core.root}
    for h in range(1, blocks + 1):
        block = []
        for i, p in enumerate(_people()):
            links = [(cid_of(b"p%d.%d" % (h, i)), cid_of(b"q%d.%d.%d" % (h, i, j)))
                     for j in range(LINKS_PER_TX)]
            block.append(make_tx(p, chain_id=CHAIN, nonce=core.next_nonce(p.address),
                                 kind=TxKind.LINK, links=links, fee=1))
        txs[h] = tuple(block)
        commit(store, core, core.prepare_block(h, list(block)))
        roots[h] = core.root
    return txs, roots


class Ledger:
    """What the invariant sees (outside the actors, so it survives crashes)."""

    def __init__(self, blocks: int) -> None:
        self.txs, self.roots = reference_chain(blocks)
        #: height -> root the state actor acknowledged.
        self.acked: dict[int, bytes] = {}
        self.next_height = 1
        #: Byzantine switch: forged transactions added to every block while > 0.
        self.flood = 0
        #: Transactions the state actor reported rejected in acknowledged blocks.
        self.rejected = 0


class Feeder(Actor):
    """Client: applies the chain block by block, follows the head after restarts."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def on_start(self) -> None:
        self.ctx.start_timer("feed", FEED_EVERY_MS, QTick(), repeat=True)

    async def receive(self, msg: Any) -> Any:
        ledger = self.ledger
        h = ledger.next_height
        if not isinstance(msg, QTick) or h not in ledger.txs:
            return None
        target = self.ctx.ref_for("s0", STATE_PATH)
        txs = ledger.txs[h] + self._forged(ledger.txs[h], ledger.flood)
        try:
            reply = await self.ctx.ask(target, ApplyBlock(h, txs), timeout_ms=ASK_TIMEOUT_MS)
        except ActorError:
            return None  # crashed, partitioned, restarting: try again next tick
        if isinstance(reply, BlockApplied) and reply.height == h:
            ledger.acked[h] = reply.root
            ledger.next_height = h + 1
            ledger.rejected += int(np.count_nonzero(reply.status))
        elif isinstance(reply, Head):
            ledger.next_height = reply.height + 1
        return None


    def _forged(self, txs: tuple[bytes, ...], count: int) -> tuple[bytes, ...]:
        """``count`` copies of real txs with one flipped bit each: invalid signatures
        (mostly), which the state actor must reject without any effect on state."""
        rng = self.ctx.random
        out = []
        for _ in range(min(count, FLOOD_MAX)):
            raw = bytearray(txs[rng.randrange(len(txs))])
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
            out.append(bytes(raw))
        return tuple(out)


def build(sim: Simulation, options: Mapping[str, Any]) -> None:
    """Scenario "state": a state node and a client node."""
    blocks = int(options.get("blocks") or BLOCKS_DEFAULT)
    ledger = Ledger(blocks)
    sim.network.set_default(latency_ms=2.0, jitter_ms=1.0)

    def boot_state(node: Node) -> None:
        node.spawn(Supervisor, SupervisorFlags(intensity=20, period_ms=1_000), [
            ChildSpec("state", StateActor, kwargs={
                "chain_id": CHAIN, "genesis_balances": _genesis(), "sync_latency_ms": 4.0,
                "tree_checkpoint_blocks": 3})], name="sup")

    def boot_client(node: Node) -> None:
        node.spawn(Supervisor, SupervisorFlags(intensity=20, period_ms=1_000),
                   [ChildSpec("feeder", Feeder, (ledger,))], name="sup")

    sim.add_node("s0", boot=boot_state, torn_writes=True)
    sim.add_node("c0", boot=boot_client)
    provide(sim, "state", ledger)


def _finish(sim: Simulation, options: Mapping[str, Any]) -> Mapping[str, Any]:
    ledgers = [x for x in provided(sim, "state") if isinstance(x, Ledger)]
    return {"blocks_acknowledged": max((len(x.acked) for x in ledgers), default=0),
            "txs_rejected": sum(x.rejected for x in ledgers)}


register_scenario("state", help="chaos: the state actor applying a signed chain while "
                  "crashed, killed, partitioned, fsync-failed", finish=_finish,
                  duration_ms=2_000.0)(build)


@register_invariant("state.acknowledged_blocks_durable", component="state")
def acknowledged_blocks_durable(world: ChaosWorld) -> bool:
    """A running state actor is at or past every height it acknowledged, on the
    reference chain's root (nothing acknowledged lost, nothing invented)."""
    sim = world.sim
    for ledger in world.provided("state"):
        for h, root in ledger.acked.items():
            assert root == ledger.roots[h], f"acknowledged height {h} with a foreign root"
        if not sim.is_up("s0"):
            continue
        cell = sim.node("s0")._cells.get(STATE_PATH)
        core = getattr(cell.actor, "core", None) if cell is not None else None
        if core is None:
            continue  # not started yet (loading its image)
        top = max(ledger.acked, default=-1)
        assert core.height >= top, f"state at height {core.height}, acknowledged {top}"
        if core.height >= 0:  # -1: before genesis was written (first start)
            assert core.root == ledger.roots[core.height], f"root at {core.height} is foreign"
    return True


def _invalid_signature_flood(world: ChaosWorld, node: str, params: Mapping[str, Any]) -> Any:
    """Byzantine client: every block it sends carries forged transactions (the node
    argument is ignored: the feeder on c0 is the only client)."""
    count = int(params.get("count", FLOOD_DEFAULT))
    assert 0 < count <= FLOOD_MAX, count
    ledgers = [x for x in world.provided("state") if isinstance(x, Ledger)]
    for ledger in ledgers:
        ledger.flood = count

    def undo() -> None:
        for ledger in ledgers:
            ledger.flood = 0

    return undo


register_byzantine("state.invalid_signature_flood", _invalid_signature_flood)
