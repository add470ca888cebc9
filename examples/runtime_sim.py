"""The same kind of actors under the deterministic simulator: two nodes, a lossy link,
a partition, a trace hash that only depends on the seed.
Run: .venv/bin/python examples/runtime_sim.py 42"""

from __future__ import annotations

import sys
from typing import Any

from focusflow.sim import LinkConfig, Simulation
from focusflow.supervisor import Actor, AskTimeout
from focusflow.wire.system import Ping, Pong


class Echo(Actor):
    async def receive(self, msg: Any) -> Any:
        return Pong(msg.seq)


def main(seed: int) -> None:
    sim = Simulation(seed, link=LinkConfig(latency_ms=20, jitter_ms=10, loss=0.2))
    a = sim.add_node("a")
    b = sim.add_node("b")
    a.spawn(Echo, name="echo")
    echo = b.ref("a", "/user/echo")

    async def client() -> int:
        answered = 0
        for i in range(20):
            if i == 10:
                sim.network.partition(["a"], ["b"])
            if i == 15:
                sim.network.heal()
            try:
                await echo.ask(Ping(i), timeout_ms=200)
                answered += 1
            except AskTimeout:
                pass
        return answered

    answered = sim.run_until_complete(client(), node="b")
    print(f"seed {seed}: {answered}/20 answered in {sim.virtual_seconds:.2f} virtual s, "
          f"trace {sim.trace_hash()[:16]}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
