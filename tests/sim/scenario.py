"""A small multi-node scenario used by the determinism tests (run in subprocesses too)."""

from __future__ import annotations

import sys
from typing import Any

from focusflow.sim import LinkConfig, Simulation
from focusflow.supervisor import Actor, ActorRef, ChildSpec, Node, Supervisor, SupervisorFlags
from tests.wire.msgs import Req, Resp


class Pinger(Actor):
    """Asks every peer in turn, forever, crashing on every 7th answer."""

    def __init__(self, peers: tuple[str, ...]) -> None:
        self.peers = peers
        self.count = 0

    async def on_start(self) -> None:
        self.ctx.start_timer("go", 1.0 + self.ctx.random.random(), Req(0, "go"))

    async def receive(self, msg: Any) -> Any:
        if isinstance(msg, Req) and msg.text == "go":
            for peer in self.peers:
                target: ActorRef = self.ctx.ref_for(peer, "/user/sup/echo")
                try:
                    answer = await self.ctx.ask(target, Req(self.count, "ping"), timeout_ms=50)
                except Exception:
                    continue
                self.count += 1
                if answer.n % 7 == 6:
                    raise RuntimeError("the 7th answer")
            self.ctx.start_timer("go", 5.0 + 5 * self.ctx.random.random(), Req(0, "go"))
        return None


class Echo(Actor):
    async def receive(self, msg: Any) -> Any:
        return Resp(msg.n, msg.text)


def build(seed: int, nodes: int = 4) -> Simulation:
    sim = Simulation(seed, link=LinkConfig(latency_ms=2.0, jitter_ms=1.5, loss=0.02,
                                           duplicate=0.01, reorder=0.05))
    names = tuple(f"n{i}" for i in range(nodes))

    def boot(node: Node) -> None:
        peers = tuple(n for n in names if n != node.name)
        node.spawn(Supervisor, SupervisorFlags(intensity=100, period_ms=1_000),
                   [ChildSpec("echo", Echo), ChildSpec("pinger", Pinger, (peers,))], name="sup")

    for name in names:
        sim.add_node(name, boot=boot)
    sim.call_later(200, lambda: sim.network.partition(["n0", "n1"]))
    sim.call_later(400, sim.network.heal)
    sim.call_later(300, lambda: sim.crash_node("n3"))
    sim.call_later(600, lambda: sim.restart_node("n3"))
    return sim


def run(seed: int, for_ms: float = 1_000) -> tuple[str, int]:
    sim = build(seed)
    sim.run(for_ms=for_ms)
    return sim.trace_hash(), sim.events


if __name__ == "__main__":
    digest, events = run(int(sys.argv[1]))
    print("TRACE", digest, events)
