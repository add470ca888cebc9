"""A year of demand scenarios driven through the real core: rising, falling, shock.

(The ``economics`` scenario of ``focusflow sim`` in :mod:`.scenario` steps the same driver.)

The driver is deterministic from a seed and integer-only (trade sizes come from
``isqrt`` on the pool invariant), so a scenario run is reproducible bit for bit. It
models three kinds of actors around the core:

* users who pay gas in H proportional to the day's demand index, and who stake CYB to
  mint H when their H runs low (and unstake, burning H, when they hold far too much);
* a trader who moves the pool price a fraction of the way toward a "fundamental" price
  proportional to demand each block (the market's view of H);
* in the ``shock`` scenario, a panic seller who dumps H in large chunks from day 150
  while demand collapses, then demand recovers: the breaker trips and resets.

It records one sample per day for the plot and checks every core invariant daily.
"""

from __future__ import annotations

import math
import random  # runtime-ok: the demand driver is seeded from the scenario and seed
from collections.abc import Callable
from dataclasses import dataclass, field

from focusflow.actors.economics import amm
from focusflow.actors.economics.core import (
    BlockInput,
    BlockRecord,
    EconGenesis,
    EconomicsCore,
    Stake,
    Swap,
    Tx,
    Unstake,
)
from focusflow.actors.economics.fixed import PPB, WAD
from focusflow.actors.economics.ledger import CYB, H, Ledger, MemoryLedger, supply_conserved
from focusflow.actors.economics.params import EconParams, SplitPpb

SCENARIOS = ("rising", "falling", "shock")
blocks_per_day = 24
"""One simulated block stands for an hour of the network's economy."""
days_max = 3660
users = 24
unit = 10**6  # base units per whole token
gas_per_block_base = 400 * unit  # H of gas per block at demand index 1.0
trader_gap_ppb = 40_000_000  # the trader closes 4% of the price gap per block
trader_stake = 2_000_000 * unit  # staked at block 1: the H the trader can sell
whale_stake = 1_500_000 * unit  # staked at block 1 by the shock's panic seller


@dataclass(frozen=True, slots=True)
class DaySample:
    """End-of-day state (integers; the report converts to floats for plotting)."""

    day: int
    demand_ppb: int
    premium_ppb: int | None
    price_wad: int | None
    split_ppb: SplitPpb
    supply_cyb: int
    supply_h: int
    staked_cyb: int
    burned_cyb_total: int
    tripped_blocks: int  # blocks of this day during which the breaker was tripped
    trips_started: int = 0  # times the breaker tripped during this day


@dataclass(slots=True)
class ScenarioResult:
    """All daily samples of one scenario plus its summary figures."""

    scenario: str
    days: int
    seed: int
    samples: list[DaySample] = field(default_factory=list)
    supply_conserved: bool = True
    violations: list[str] = field(default_factory=list)
    breaker_trips: int = 0
    split_min_ppb: SplitPpb = (PPB, PPB, PPB)
    split_max_ppb: SplitPpb = (0, 0, 0)
    swaps_refused: int = 0
    genesis_supply_cyb: int = 0
    genesis_supply_h: int = 0
    block_price_wad: list[int] = field(default_factory=list)  # end-of-block pool price
    block_tripped: list[bool] = field(default_factory=list)  # breaker state per block

    def summary(self) -> dict[str, object]:
        """A JSON-ready summary (what ``focusflow econ simulate --json`` prints)."""
        first, last = self.samples[0], self.samples[-1]
        return {
            "scenario": self.scenario,
            "days": self.days,
            "seed": self.seed,
            "supply_conserved": self.supply_conserved,
            "violations": self.violations[:10],
            "breaker_trips": self.breaker_trips,
            "swaps_refused": self.swaps_refused,
            "cyb_supply_genesis": self.genesis_supply_cyb,
            "cyb_supply_day0": first.supply_cyb,
            "cyb_supply_end": last.supply_cyb,
            "cyb_burned_total": last.burned_cyb_total,
            "h_supply_genesis": self.genesis_supply_h,
            "h_supply_day0": first.supply_h,
            "h_supply_end": last.supply_h,
            "premium_ppb_end": last.premium_ppb,
            "split_ppb_end": list(last.split_ppb),
            "split_ppb_min": list(self.split_min_ppb),
            "split_ppb_max": list(self.split_max_ppb),
        }


def demand_ppb(scenario: str, day: int, days: int) -> int:
    """The demand index (1.0 = PPB) of a scenario on a day."""
    assert scenario in SCENARIOS, scenario
    span = max(days - 1, 1)
    if scenario == "rising":
        return PPB + 2 * PPB * day // span  # 1.0 -> 3.0
    if scenario == "falling":
        return PPB - 7 * PPB * day // (10 * span)  # 1.0 -> 0.3
    crash, recover = days * 150 // 365, days * 200 // 365
    if day < crash:
        return PPB
    if day < recover:
        return 350_000_000
    return 350_000_000 + 650_000_000 * (day - recover) // max(days - recover, 1)


def _genesis(params: EconParams) -> EconGenesis:
    balances = {f"user{i:02d}": (1_000_000 * unit, 0) for i in range(users)}
    balances["trader"] = (20_000_000 * unit, 0)
    balances["panic"] = (whale_stake, 0)
    return EconGenesis(
        params=params,
        balances=balances,
        pool=(1_100_000 * unit, 1_000_000 * unit),  # H at 1.1 CYB: premium ~1 with d ~1.1
        treasury_cyb=3_000_000 * unit,
    )


def _trader_tx(core: EconomicsCore, fundamental_wad: int) -> Tx | None:
    """Move the pool price ``trader_gap_ppb`` of the way toward the fundamental price."""
    r_cyb, r_h = amm.reserves(core.ledger)
    if r_cyb == 0 or r_h == 0:
        return None
    price = r_cyb * WAD // r_h
    goal = price + (fundamental_wad - price) * trader_gap_ppb // PPB
    k = r_cyb * r_h
    new_h = math.isqrt(k * WAD // max(goal, 1))
    if new_h < r_h:  # price should rise: buy H with CYB
        cyb_in = math.isqrt(k * goal // WAD) - r_cyb
        if cyb_in > 0 and core.ledger.balance("trader", CYB) >= cyb_in:
            return Swap("trader", CYB, cyb_in)
    elif new_h > r_h:  # price should fall: sell H
        h_in = min(new_h - r_h, core.ledger.balance("trader", H))
        if h_in > 0:
            return Swap("trader", H, h_in)
    return None


def _user_txs(core: EconomicsCore, gas_per_user_day: int) -> list[Tx]:
    """Once a day each user tops up H by staking, or unstakes what it will not need."""
    txs: list[Tx] = []
    want = 20 * gas_per_user_day  # keep ~20 days of gas
    for i in range(users):
        name = f"user{i:02d}"
        have = core.ledger.balance(name, H)
        if have < want // 2:
            amount = min(want - have, core.ledger.balance(name, CYB))
            if amount > 0:
                txs.append(Stake(name, amount))
        elif have > 3 * want and core.staked(name) > 0:
            txs.append(Unstake(name, min(core.staked(name), (have - want) // 2)))
    return txs


class YearDriver:
    """Steps one scenario through a core, one block per :meth:`step` (24 blocks a day).

    Used by :func:`run_scenario` (a whole run at once) and by the ``economics`` scenario
    of ``focusflow sim`` (one block per virtual-time tick).
    """

    def __init__(
        self,
        scenario: str,
        *,
        days: int = 365,
        seed: int = 1,
        params: EconParams | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        assert scenario in SCENARIOS, f"unknown scenario {scenario!r} (choose from {SCENARIOS})"
        assert 1 <= days <= days_max, f"days must be 1..{days_max}"
        self.scenario, self.days = scenario, days
        self.rng = random.Random(f"{scenario}:{seed}")
        self.core = EconomicsCore(MemoryLedger() if ledger is None else ledger, _genesis(params or EconParams()))
        self.result = ScenarioResult(scenario, days, seed)
        self.result.genesis_supply_cyb = self.core.ledger.supply(CYB)
        self.result.genesis_supply_h = self.core.ledger.supply(H)
        self.result.split_min_ppb = self.result.split_max_ppb = self.core.split
        self.p0 = amm.price_wad(self.core.ledger) or WAD
        self.height = 0
        self._tripped_today = 0
        self._trips_at_day_start = 0

    @property
    def done(self) -> bool:
        """Whether every day of the calendar has been simulated."""
        return self.height >= self.days * blocks_per_day

    def step(self) -> BlockRecord:
        """Build and apply the next block; close the day after its last block."""
        assert not self.done, "the scenario's calendar is over"
        core, result = self.core, self.result
        day, hour = divmod(self.height, blocks_per_day)
        demand = demand_ppb(self.scenario, day, self.days)
        gas_block = gas_per_block_base * demand // PPB
        txs: list[Tx] = _user_txs(core, gas_block * blocks_per_day // users) if hour == 0 else []
        if self.height == 0:
            txs += [Stake("trader", trader_stake), Stake("panic", whale_stake)]
        panic_window = demand < PPB and day < self.days * 200 // 365
        if self.scenario == "shock" and panic_window and hour % 6 == 0:
            txs.extend(_panic_txs(core))
        trade = _trader_tx(core, self.p0 * demand // PPB)
        if trade is not None:
            txs.append(trade)
        gas = _gas(core, self.rng, gas_block)
        gains = tuple((f"user{self.rng.randrange(users):02d}", self.rng.randrange(1, 1000)) for _ in range(8))
        self.height += 1
        record = core.apply_block(BlockInput(self.height, tuple(txs), gas, gains))
        result.swaps_refused += sum(1 for r in record.receipts if r.kind == "Swap" and not r.ok)
        self._tripped_today += record.breaker_tripped
        result.split_min_ppb = _elementwise(min, result.split_min_ppb, record.split_ppb)
        result.split_max_ppb = _elementwise(max, result.split_max_ppb, record.split_ppb)
        result.block_price_wad.append(record.price_wad or 0)
        result.block_tripped.append(record.breaker_tripped)
        if hour == blocks_per_day - 1:
            self._close_day(day, demand)
        return record

    def _close_day(self, day: int, demand: int) -> None:
        core, result = self.core, self.result
        problems = core.violations()
        result.violations.extend(f"day {day}: {p}" for p in problems)
        result.supply_conserved &= supply_conserved(core.ledger, core.journal)
        trips = core.breaker.trips - self._trips_at_day_start
        result.samples.append(_sample(core, day, demand, self._tripped_today, trips))
        result.breaker_trips = core.breaker.trips
        self._tripped_today, self._trips_at_day_start = 0, core.breaker.trips


def run_scenario(
    scenario: str,
    *,
    days: int = 365,
    seed: int = 1,
    params: EconParams | None = None,
    on_block: Callable[[BlockRecord], None] | None = None,
    ledger: Ledger | None = None,
) -> ScenarioResult:
    """Run one scenario through a fresh core; returns daily samples and a summary.

    ``ledger`` (default: a fresh :class:`MemoryLedger`) must be empty; ``on_block`` sees
    every block record (and may, for example, commit a key-value ledger's writes).
    """
    driver = YearDriver(scenario, days=days, seed=seed, params=params, ledger=ledger)
    while not driver.done:
        record = driver.step()
        if on_block is not None:
            on_block(record)
    return driver.result


def _panic_txs(core: EconomicsCore) -> list[Tx]:
    """The shock's panic seller: a whale dumping its staking-minted H in 6% chunks."""
    chunk = min(amm.reserves(core.ledger)[1] * 6 // 100, core.ledger.balance("panic", H))
    return [Swap("panic", H, chunk)] if chunk > 0 else []


def _gas(core: EconomicsCore, rng: random.Random, gas_block: int) -> tuple[tuple[str, int], ...]:
    payers = rng.sample(range(users), 6)
    share = gas_block // len(payers)
    out = []
    for i in payers:
        name = f"user{i:02d}"
        amount = min(share, core.ledger.balance(name, H))
        if amount > 0:
            out.append((name, amount))
    return tuple(out)


def _elementwise(fn: Callable[[int, int], int], a: SplitPpb, b: SplitPpb) -> SplitPpb:
    return (fn(a[0], b[0]), fn(a[1], b[1]), fn(a[2], b[2]))


def _sample(core: EconomicsCore, day: int, demand: int, tripped: int, trips: int) -> DaySample:
    burned = -core.journal.by_reason.get((CYB, "buyback_burn_cyb"), 0)
    return DaySample(
        day=day, demand_ppb=demand, premium_ppb=core.premium(),
        price_wad=amm.price_wad(core.ledger), split_ppb=core.split,
        supply_cyb=core.ledger.supply(CYB), supply_h=core.ledger.supply(H),
        staked_cyb=core.tenure.total_staked(), burned_cyb_total=burned, tripped_blocks=tripped,
        trips_started=trips,
    )  # fmt: skip
