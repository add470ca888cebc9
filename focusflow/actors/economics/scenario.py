"""The ``economics`` scenario of ``focusflow sim``: the economics core under the simulator.

``focusflow.sim.scenarios.discover()`` imports ``focusflow.actors.<component>.scenario``
modules; this one registers ``economics``. It steps the year driver
(:class:`~focusflow.actors.economics.year.YearDriver`) one block per virtual-time tick
(``--econ-block-ms``, default 1000 ms), registers the invariants ``supply_conserved``
and ``economics_invariants`` with the simulator (checked as it runs), and adds to the
JSON summary ``supply_conserved`` and an ``economics`` block (blocks, split, premium,
breaker trips, supplies, and ``records_hash``: BLAKE3 over the Cap'n Proto bytes of every
block record, so two runs with one seed can be compared). There are no validators in it yet: block production is not
built, so blocks come from the driver rather than from consensus.

    focusflow sim --scenario economics --econ-scenario shock --duration-ms 600000 --json
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import blake3

from focusflow.actors.economics.codec import encode_record
from focusflow.actors.economics.ledger import CYB, H, supply_conserved
from focusflow.actors.economics.year import SCENARIOS, YearDriver
from focusflow.sim._sim import Simulation
from focusflow.sim.scenarios import register_scenario

_RECORDS_HASH_CONTEXT = "focusflow 2026 economics block records v1"
BLOCK_MS_DEFAULT = 1000.0
DURATION_MS_DEFAULT = 24 * 30 * BLOCK_MS_DEFAULT  # 30 days of the demand calendar


def add_arguments(group: argparse._ArgumentGroup) -> None:
    """Options of the economics scenario."""
    group.add_argument("--econ-scenario", choices=SCENARIOS, default="shock",
                       help="demand scenario driving the economics core (default shock)")  # fmt: skip
    group.add_argument("--econ-days", type=int, default=365,
                       help="length of the demand calendar in days (24 blocks a day)")  # fmt: skip
    group.add_argument("--econ-block-ms", type=float, default=BLOCK_MS_DEFAULT,
                       help="virtual milliseconds between blocks")  # fmt: skip


def build(sim: Simulation, options: Mapping[str, Any]) -> None:
    """Create the core, schedule one block per tick, register the invariants."""
    scenario = str(options.get("econ_scenario") or "shock")
    days = int(options.get("econ_days") or 365)
    block_ms = float(options.get("econ_block_ms") or BLOCK_MS_DEFAULT)
    assert block_ms > 0
    driver = YearDriver(scenario, days=days, seed=sim.seed)
    hasher = blake3.blake3(derive_key_context=_RECORDS_HASH_CONTEXT)
    _runs[id(sim)] = (driver, hasher)

    def tick() -> None:
        if driver.done:
            return
        hasher.update(encode_record(driver.step()))
        sim.call_later(block_ms, tick)

    sim.call_later(block_ms, tick)
    sim.add_invariant("supply_conserved", lambda: supply_conserved(driver.core.ledger, driver.core.journal))
    sim.add_invariant("economics_invariants", lambda: not driver.core.violations())


def finish(sim: Simulation, options: Mapping[str, Any]) -> Mapping[str, Any]:
    """Summary fields: ``supply_conserved`` and the economics figures of the run."""
    driver, hasher = _runs.pop(id(sim))
    core = driver.core
    ok = supply_conserved(core.ledger, core.journal)
    return {
        "supply_conserved": ok,
        "economics": {
            "scenario": driver.scenario,
            "blocks": driver.height,
            "records_hash": hasher.hexdigest(),
            "split_ppb": list(core.split),
            "premium_ppb": core.premium(),
            "breaker_trips": core.breaker.trips,
            "cyb_supply": core.ledger.supply(CYB),
            "h_supply": core.ledger.supply(H),
            "violations": core.violations()[:10],
        },
    }


_runs: dict[int, tuple[YearDriver, Any]] = {}
"""Driver and record hasher of each simulation in progress, by ``id(sim)`` (finish pops)."""

register_scenario(
    "economics",
    help="CYB/H economics core driven by a demand scenario; reports supply_conserved",
    add_arguments=add_arguments,
    finish=finish,
    duration_ms=DURATION_MS_DEFAULT,
)(build)
