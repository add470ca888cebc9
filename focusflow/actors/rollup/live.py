"""The rollups hierarchy under the *live* runtime: wall-clock figures in one process.

The same supervisor trees as the ``rollups`` sim scenario (:func:`topology.topology`),
each node an ``ActorSystem`` on a ``LoopbackNetwork`` (frames still Cap'n Proto encoded,
every hop), on asyncio or trio. Everything runs on one event loop, so the sequencers'
ranking, the DA squares, the challenger's re-execution and the hubs' merges all compete
for one core. The multi-process version (one OS process per node, TLS transport) is
``focusflow.topology.rollnet``. Used by ``benchmarks/bench_rollups.py`` and, as the
baseline, ``benchmarks/bench_rollnet.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

import anyio  # runtime-ok: the in-process live driver (an embedding program), not actor code

from focusflow.actors.hub.actor import HubActor
from focusflow.actors.rollup.messages import ClientControl
from focusflow.actors.rollup.probe import RollupProbe
from focusflow.actors.rollup.topology import SUP, topology
from focusflow.supervisor import ActorSystem, LoopbackNetwork, Supervisor, SupervisorFlags

__all__ = ["run_live"]


async def run_live(options: Mapping[str, Any], *, active_s: float, drain_s: float
                   ) -> dict[str, Any]:
    """Run links for ``active_s`` then drain ``drain_s`` wall seconds; return figures."""
    probe = RollupProbe()
    net = LoopbackNetwork()
    rollups = int(options.get("rollups") or 4)
    systems: dict[str, ActorSystem] = {}
    async with AsyncExitStack() as stack:
        for name, children in topology(options, probe).items():
            system = await stack.enter_async_context(net.system(name, seed=7))
            system.spawn(Supervisor, SupervisorFlags(intensity=5, period_ms=1_000), children,
                         name="sup")
            systems[name] = system
        client = systems["client"]
        ref = client.node.ref("client", f"{SUP}/client")
        for _ in range(1000):  # the supervisors start their children asynchronously
            if client.node.is_alive(ref):
                break
            await anyio.sleep(0.01)
        for i in range(rollups):
            await client.tell(ref, ClientControl(f"bucket-{i}", True))
        await anyio.sleep(active_s)
        for i in range(rollups):
            await client.tell(ref, ClientControl(f"bucket-{i}", False))
        await anyio.sleep(drain_s)
        top = systems["hub0"].node.actor_of(systems["hub0"].node.ref("hub0", f"{SUP}/hub"))
        assert isinstance(top, HubActor)
        merged = sum(len(a.history) for a in top.core.accepted.values())
        return {"global_sync_ms_p50": probe.percentile_ms(50),
                "global_sync_ms_p99": probe.percentile_ms(99),
                "links_ordered": probe.links_ordered,
                "links_per_s": probe.links_ordered / active_s,
                "claims_sent": sum(probe.claims_sent.values()),
                "claims_merged": merged, "global_height": top.core.height}
