"""The economics core: a deterministic, integer-only state machine over a :class:`Ledger`.

Inputs are blocks (:class:`BlockInput`: transactions, the gas paid in H, the block's
focus gains); the output of each block is a frozen :class:`BlockRecord` with the split it
used, the premium, the price, the breaker state and per-transaction receipts. The core
does no I/O and reads no clock: an actor shell (not built yet) feeds it committed blocks.
Balances live in the ledger; the rest of the state (stake positions, reward
accumulators, the split, the breaker, governance) lives in this object.

Order of one block (also in docs/economics.md):
1. governance tally (passed changes take effect), tenure maturity, breaker reset;
2. transactions in order (each gets a receipt; a refused one changes nothing);
3. gas collection; premium; split moves one bounded step toward the policy target
   (frozen while the breaker is tripped);
4. the gas is divided: buyback-and-burn of CYB, liquidity, rewards (rebates, focus
   micro-rewards accrued, tenure rewards distributed);
5. focus micro-rewards settle in a batch every ``focus_settle_interval_blocks``;
6. the end-of-block price is sampled by the breaker; invariants are asserted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from focusflow.actors.economics import amm
from focusflow.actors.economics.breaker import Breaker
from focusflow.actors.economics.fixed import PPB, ceil_div
from focusflow.actors.economics.governance import Choice, Governance, Status, split_changes
from focusflow.actors.economics.ledger import (
    CYB,
    DENOMS,
    LP,
    EconError,
    H,
    InsufficientFunds,
    Ledger,
    SupplyJournal,
    SupplyOverflow,
    burn,
    mint,
    supply_max,
    supply_violations,
    transfer,
)
from focusflow.actors.economics.params import EconParams, SplitPpb, validate
from focusflow.actors.economics.rewards import (
    FocusRewardStream,
    TenureBook,
    focus_pending_max,
    rebates,
)
from focusflow.actors.economics.split import (
    divide_gas,
    premium_ppb,
    step_split,
    target_split,
    within_bounds,
)

STAKE_ACCOUNT = "econ/stake"  # staked CYB
GAS_ACCOUNT = "econ/gas"  # gas of the current block (empty between blocks)
BUYBACK_ACCOUNT = "econ/buyback"  # H waiting to be sold for CYB to burn
POL_ACCOUNT = "econ/pol"  # protocol treasury: CYB to pair, H to deposit, LP shares owned
TENURE_ACCOUNT = "econ/tenure"  # escrow of tenure rewards
FOCUS_ACCOUNT = "econ/focus"  # escrow of focus micro-rewards
MODULE_ACCOUNTS = (
    STAKE_ACCOUNT, GAS_ACCOUNT, BUYBACK_ACCOUNT, POL_ACCOUNT, TENURE_ACCOUNT, FOCUS_ACCOUNT,
    amm.POOL_ACCOUNT,
)  # fmt: skip

buyback_search_steps_max = 128
"""Bound on the bisection that sizes a buyback to stay inside the breaker's band."""


class TxRefused(EconError):
    """A transaction was refused (the sender's fault); it changed nothing."""


class BlockRefused(EconError):
    """A block breaks a named limit (the proposer's fault); nothing was applied."""


class GenesisError(EconError):
    """The genesis description is inconsistent (the operator's fault)."""


# -- transactions -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Stake:
    """Stake CYB; mints H at ``h_per_cyb_ppb`` when ``stake_mint_h`` is on."""

    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class Unstake:
    """Unstake CYB; burns the matching share of the H that staking minted."""

    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class Swap:
    """Sell ``amount_in`` of ``denom_in`` to the protocol pool."""

    account: str
    denom_in: str
    amount_in: int
    min_out: int = 0


@dataclass(frozen=True, slots=True)
class AddLiquidity:
    """Deposit CYB and H at the pool ratio (primary dealers only)."""

    account: str
    cyb_max: int
    h_max: int


@dataclass(frozen=True, slots=True)
class RemoveLiquidity:
    """Withdraw by burning LP shares (primary dealers only)."""

    account: str
    shares: int


@dataclass(frozen=True, slots=True)
class ClaimTenure:
    """Pay out the account's accrued tenure rewards (H)."""

    account: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Plain transfer of CYB or H."""

    account: str
    to: str
    denom: str
    amount: int


@dataclass(frozen=True, slots=True)
class Propose:
    """Open a governance proposal changing parameters."""

    account: str
    changes: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Vote:
    """Vote on a proposal with the account's stake."""

    account: str
    pid: int
    choice: Choice


Tx = Stake | Unstake | Swap | AddLiquidity | RemoveLiquidity | ClaimTenure | Transfer | Propose | Vote


@dataclass(frozen=True, slots=True)
class BlockInput:
    """One committed block as the economics core sees it."""

    height: int
    txs: tuple[Tx, ...] = ()
    gas: tuple[tuple[str, int], ...] = ()  # (payer, H paid)
    focus_gains: tuple[tuple[str, int], ...] = ()  # (neuron, Δπ gain, fixed point)
    gas_prepaid: bool = False
    """The gas already sits in ``GAS_ACCOUNT`` (the chain's executor: the state core
    debited each fee from its payer in the tx pass, and that movement credits the gas
    account; see ``economics.onchain``). Entries are then recorded, not transferred."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """Outcome of one transaction or gas payment."""

    index: int
    kind: str
    ok: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """What one block did; ``split_ppb`` is the split it used (burn, rewards, liquidity)."""

    height: int
    split_ppb: SplitPpb
    target_ppb: SplitPpb
    premium_ppb: int | None
    price_wad: int | None
    breaker_tripped: bool
    breaker_reset: bool
    gas_h: int
    buyback_h: int
    burned_cyb: int
    liquidity_h: int
    rewards_h: int
    rebates_h: int
    focus_h: int
    tenure_h: int
    focus_settled: int
    supply: Mapping[str, int]
    staked_cyb: int
    receipts: tuple[Receipt, ...]
    governance: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EconGenesis:
    """Initial balances and roles. Allocations are minted with reason ``genesis``."""

    params: EconParams = field(default_factory=EconParams)
    balances: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # account -> (CYB, H)
    pool: tuple[int, int] = (0, 0)  # protocol-owned liquidity at genesis: (CYB, H)
    treasury_cyb: int = 0  # CYB the protocol pairs with the liquidity part of gas
    dealers: frozenset[str] = frozenset()


class EconomicsCore:
    """The sans-IO economics state machine (see the module docstring)."""

    def __init__(self, ledger: Ledger, genesis: EconGenesis, *, height: int = 0) -> None:
        validate(genesis.params)
        self.ledger = ledger
        self.journal = SupplyJournal.opened_on(ledger)
        self.journal.height = height
        self.params = genesis.params
        self.height = height
        self.split: SplitPpb = genesis.params.split_genesis_ppb
        self.dealers = set(genesis.dealers)
        self.tenure = TenureBook(genesis.params.tenure_ramp_blocks)
        self.h_minted: dict[str, int] = {}
        self.focus = FocusRewardStream()
        self.gov = Governance()
        p = genesis.params
        self.breaker = Breaker(p.breaker_window_blocks, p.breaker_move_max_ppb, p.breaker_cooldown_blocks)
        self.failed = False
        for account, (cyb, h) in sorted(genesis.balances.items()):
            if account in MODULE_ACCOUNTS:
                raise GenesisError(f"genesis may not fund module account {account}")
            mint(ledger, self.journal, account, CYB, cyb, "genesis")
            mint(ledger, self.journal, account, H, h, "genesis")
        mint(ledger, self.journal, POL_ACCOUNT, CYB, genesis.treasury_cyb + genesis.pool[0], "genesis")
        mint(ledger, self.journal, POL_ACCOUNT, H, genesis.pool[1], "genesis")
        if genesis.pool[0] and genesis.pool[1]:
            amm.add_liquidity(ledger, self.journal, POL_ACCOUNT, cyb_max=genesis.pool[0], h_max=genesis.pool[1])
        self.breaker.sample(height, amm.price_wad(ledger))
        assert not self.violations(), self.violations()

    # -- queries ---------------------------------------------------------------------------
    def staked(self, account: str) -> int:
        """CYB staked by ``account``."""
        pos = self.tenure.positions.get(account)
        return 0 if pos is None else pos.amount

    def premium(self) -> int | None:
        """The premium signal p/d in ppb right now (``None`` when undefined)."""
        r_cyb, r_h = amm.reserves(self.ledger)
        return premium_ppb(
            reserve_cyb=r_cyb, reserve_h=r_h, h_supply=self.ledger.supply(H),
            staked_cyb=self.tenure.total_staked(),
        )  # fmt: skip

    def violations(self) -> list[str]:
        """Every broken invariant (empty when all hold). O(accounts): for tests and the simulator."""
        out = supply_violations(self.ledger, self.journal)
        if self.ledger.balance(GAS_ACCOUNT, H) != 0:
            out.append("gas account not empty between blocks")
        if self.ledger.balance(STAKE_ACCOUNT, CYB) != self.tenure.total_staked():
            out.append("staked CYB differs from the stake book")
        if self.ledger.balance(TENURE_ACCOUNT, H) < self.tenure.owed_total():
            out.append("tenure escrow below what the book owes")
        if self.ledger.balance(FOCUS_ACCOUNT, H) < self.focus.pending_total():
            out.append("focus escrow below what the stream owes")
        if not within_bounds(self.split, self.params):
            out.append(f"split {self.split} outside its bounds")
        if set(self.h_minted) - set(self.tenure.positions):
            out.append("minted-H record for an account with no stake")
        r_cyb, r_h = amm.reserves(self.ledger)
        if (r_cyb == 0) != (r_h == 0) or (self.ledger.supply(LP) == 0) != (r_cyb == 0):
            out.append("pool half empty or LP shares without reserves")
        return out

    # -- the block -------------------------------------------------------------------------
    def apply_block(self, block: BlockInput) -> BlockRecord:
        """Apply one block; return its record.

        Raises:
            BlockRefused: the block exceeds ``txs_per_block_max``,
                ``gas_payments_per_block_max`` or ``focus_gains_per_block_max`` (the
                proposer's fault; nothing is applied and the core stays usable).
            AssertionError: a local bug (wrong height, or an invariant broke); the core
                then stays failed.
        """
        assert not self.failed, "the economics core hit a bug earlier and stays failed"
        assert block.height == self.height + 1, (block.height, self.height)
        p = self.params
        for name, count, limit in (
            ("txs_per_block_max", len(block.txs), p.txs_per_block_max),
            ("gas_payments_per_block_max", len(block.gas), p.gas_payments_per_block_max),
            ("focus_gains_per_block_max", len(block.focus_gains), p.focus_gains_per_block_max),
        ):
            if count > limit:
                raise BlockRefused(f"block {block.height} carries {count} entries > {name} {limit}")
        try:
            record = self._apply(block)
        except AssertionError:
            self.failed = True
            raise
        return record

    def _apply(self, block: BlockInput) -> BlockRecord:
        h = block.height
        self.height = self.journal.height = h
        gov_notes = self._begin_block(h)
        reset = self.breaker.maybe_reset(h, amm.price_wad(self.ledger))
        receipts = [self._run_tx(i, tx, h) for i, tx in enumerate(block.txs)]
        gas_receipts: list[Receipt] = []
        if block.gas_prepaid:
            gas_paid = self._prepaid_gas(block.gas)
        else:
            gas_paid, gas_receipts = self._collect_gas(block.gas, len(receipts))
        receipts.extend(gas_receipts)
        premium = self.premium()
        target = target_split(self.params, premium)
        if not within_bounds(self.split, self.params):
            self.split = target  # bounds changed by governance: jump into the new box
        elif not self.breaker.tripped:
            self.split = step_split(self.split, target, self.params.split_step_max_ppb)
        total = sum(gas_paid.values())
        buy_h, rew_h, liq_h = divide_gas(total, self.split)
        transfer(self.ledger, GAS_ACCOUNT, BUYBACK_ACCOUNT, H, buy_h)
        sold, burned = self._buyback(h)
        transfer(self.ledger, GAS_ACCOUNT, POL_ACCOUNT, H, liq_h)
        self._deploy_liquidity()
        reb, foc, ten = self._pay_rewards(h, rew_h, gas_paid, block.focus_gains)
        settled = self._settle_focus(h)
        price = amm.price_wad(self.ledger)
        self.breaker.sample(h, price)
        assert self.ledger.balance(GAS_ACCOUNT, H) == 0, "gas left undistributed"
        assert within_bounds(self.split, self.params), self.split
        return BlockRecord(
            height=h, split_ppb=self.split, target_ppb=target, premium_ppb=premium,
            price_wad=price, breaker_tripped=self.breaker.tripped, breaker_reset=reset,
            gas_h=total, buyback_h=sold, burned_cyb=burned, liquidity_h=liq_h, rewards_h=rew_h,
            rebates_h=reb, focus_h=foc, tenure_h=ten, focus_settled=settled,
            supply={d: self.ledger.supply(d) for d in DENOMS},
            staked_cyb=self.tenure.total_staked(), receipts=tuple(receipts),
            governance=tuple(gov_notes),
        )  # fmt: skip

    def _begin_block(self, h: int) -> list[str]:
        old = self.params
        self.params, closed = self.gov.tally(old, self.tenure.total_staked(), h)
        notes = [f"proposal {p.pid} {p.status.value} {p.note}".strip() for p in closed]
        for prop in closed:
            if prop.status is Status.PASSED:
                for account, allowed in split_changes(dict(prop.changes))[1].items():
                    (self.dealers.add if allowed else self.dealers.discard)(account)
        new = self.params
        if new.tenure_ramp_blocks != old.tenure_ramp_blocks:
            self.tenure.set_ramp(new.tenure_ramp_blocks, h)
        self.breaker.configure(
            window_blocks=new.breaker_window_blocks,
            move_max_ppb=new.breaker_move_max_ppb,
            cooldown_blocks=new.breaker_cooldown_blocks,
        )
        self.tenure.mature(h)
        return notes

    # -- transactions ----------------------------------------------------------------------
    def _run_tx(self, index: int, tx: Tx, h: int) -> Receipt:
        kind = type(tx).__name__
        try:
            self._dispatch(tx, h)
        except EconError as exc:  # the sender's fault: refused, state unchanged
            return Receipt(index, kind, False, f"{type(exc).__name__}: {exc}")
        return Receipt(index, kind, True)

    def _dispatch(self, tx: Tx, h: int) -> None:
        if isinstance(tx, Stake):
            self._stake(tx.account, tx.amount, h)
        elif isinstance(tx, Unstake):
            self._unstake(tx.account, tx.amount, h)
        elif isinstance(tx, Swap):
            self._swap(tx)
        elif isinstance(tx, AddLiquidity):
            self._require_dealer(tx.account)
            amm.add_liquidity(self.ledger, self.journal, tx.account, cyb_max=tx.cyb_max, h_max=tx.h_max)
        elif isinstance(tx, RemoveLiquidity):
            self._require_dealer(tx.account)
            amm.remove_liquidity(self.ledger, self.journal, tx.account, tx.shares)
        elif isinstance(tx, ClaimTenure):
            transfer(self.ledger, TENURE_ACCOUNT, tx.account, H, self.tenure.settle(tx.account))
        elif isinstance(tx, Transfer):
            self._transfer(tx)
        elif isinstance(tx, Propose):
            self.gov.propose(self.params, tx.account, self.staked(tx.account), dict(tx.changes), h)
        elif isinstance(tx, Vote):
            self.gov.vote(tx.account, self.staked(tx.account), tx.pid, tx.choice, h)
        else:  # pragma: no cover - the Tx union is closed
            raise TxRefused(f"unknown transaction {tx!r}")

    def _require_dealer(self, account: str) -> None:
        if account not in self.dealers:
            raise amm.NotDealer(f"{account} is not an allow-listed primary dealer")

    def _transfer(self, tx: Transfer) -> None:
        if tx.denom not in (CYB, H) or tx.amount <= 0:
            raise TxRefused(f"transfer of {tx.amount} {tx.denom} is not allowed")
        if tx.to in MODULE_ACCOUNTS or tx.account in MODULE_ACCOUNTS:
            raise TxRefused(f"module accounts are not reachable by plain transfers ({tx.to})")
        transfer(self.ledger, tx.account, tx.to, tx.denom, tx.amount)

    def _stake(self, account: str, amount: int, h: int) -> None:
        if amount <= 0 or account in MODULE_ACCOUNTS:
            raise TxRefused(f"cannot stake {amount} from {account}")
        h_new = amount * self.params.h_per_cyb_ppb // PPB if self.params.stake_mint_h else 0
        # Check every way this can be refused before changing anything (atomic tx).
        have = self.ledger.balance(account, CYB)
        if have < amount:
            raise InsufficientFunds(f"{account} holds {have} CYB, cannot stake {amount}")
        if self.ledger.supply(H) + h_new > supply_max:
            raise SupplyOverflow(f"staking {amount} would mint H past supply_max")
        transfer(self.ledger, account, STAKE_ACCOUNT, CYB, amount)
        self.tenure.add(account, amount, h)
        if self.params.stake_mint_h:
            mint(self.ledger, self.journal, account, H, h_new, "stake_mint_h")  # floored above
            self.h_minted[account] = self.h_minted.get(account, 0) + h_new
        elif account not in self.h_minted:
            self.h_minted[account] = 0

    def _unstake(self, account: str, amount: int, h: int) -> None:
        staked = self.staked(account)
        if amount <= 0 or amount > staked:
            raise TxRefused(f"{account} stakes {staked}, cannot unstake {amount}")
        if self.gov.locked(account, h):
            raise TxRefused(f"{account}'s stake is locked by a vote in progress")
        minted = self.h_minted.get(account, 0)
        h_burn = minted if amount == staked else ceil_div(minted * amount, staked)  # round up
        burn(self.ledger, self.journal, account, H, h_burn, "unstake_burn_h")  # may refuse
        self.tenure.remove(account, amount, h)
        transfer(self.ledger, STAKE_ACCOUNT, account, CYB, amount)
        if amount == staked:
            del self.h_minted[account]
        else:
            self.h_minted[account] = minted - h_burn

    def _swap(self, tx: Swap) -> None:
        if tx.denom_in not in (CYB, H) or tx.amount_in <= 0 or tx.account in MODULE_ACCOUNTS:
            raise TxRefused(f"swap of {tx.amount_in} {tx.denom_in} is not allowed")
        if self.breaker.tripped:
            raise amm.AmmError("the AMM is halted by the circuit breaker")
        after = amm.price_after_swap(self.ledger, tx.denom_in, tx.amount_in, self.params.amm_fee_ppb)
        if after is not None and not self.breaker.in_band(after):
            self.breaker.trip(self.height)
            raise amm.AmmError("swap would move the price beyond the breaker band; AMM halted")
        amm.swap(
            self.ledger, tx.account, tx.denom_in, tx.amount_in,
            fee_ppb=self.params.amm_fee_ppb, min_out=tx.min_out,
        )  # fmt: skip

    # -- gas and its split -----------------------------------------------------------------
    def _collect_gas(
        self, gas: Sequence[tuple[str, int]], first_index: int
    ) -> tuple[dict[str, int], list[Receipt]]:
        paid: dict[str, int] = {}
        receipts: list[Receipt] = []
        for i, (payer, amount) in enumerate(gas):
            try:
                if amount <= 0 or payer in MODULE_ACCOUNTS:
                    raise TxRefused(f"gas payment of {amount} from {payer} is not allowed")
                transfer(self.ledger, payer, GAS_ACCOUNT, H, amount)
            except EconError as exc:
                receipts.append(Receipt(first_index + i, "Gas", False, f"{type(exc).__name__}: {exc}"))
                continue
            paid[payer] = paid.get(payer, 0) + amount
        return paid, receipts

    def _prepaid_gas(self, gas: Sequence[tuple[str, int]]) -> dict[str, int]:
        """Gas that one movement already put into ``GAS_ACCOUNT``: the payers' totals.

        The executor builds these entries from the fees it charged (a local bug if they
        do not add up to what the gas account holds)."""
        paid: dict[str, int] = {}
        for payer, amount in gas:
            assert amount > 0 and payer not in MODULE_ACCOUNTS, (payer, amount)
            paid[payer] = paid.get(payer, 0) + amount
        assert self.ledger.balance(GAS_ACCOUNT, H) == sum(paid.values()), "prepaid gas mismatch"
        return paid

    def _buyback(self, h: int) -> tuple[int, int]:
        """Sell the buyback buffer's H for CYB and burn the CYB; never leaves the band.

        Returns (H sold, CYB burned). Sells the largest amount that keeps the price within
        the breaker band (bisection), so the protocol's own flow never trips the breaker.
        """
        want = self.ledger.balance(BUYBACK_ACCOUNT, H)
        if self.breaker.tripped or want == 0 or amm.price_wad(self.ledger) is None:
            return 0, 0
        fee = self.params.amm_fee_ppb

        def ok(x: int) -> bool:
            after = amm.price_after_swap(self.ledger, H, x, fee)
            return after is not None and self.breaker.in_band(after)

        amount = want
        if not ok(want):
            lo, hi = 0, want  # ok(lo) holds, ok(hi) does not
            for _ in range(buyback_search_steps_max):
                if hi - lo <= 1:
                    break
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if ok(mid) else (lo, mid)
            amount = lo
        r_cyb, r_h = amm.reserves(self.ledger)
        if amount == 0 or amm.quote_out(amount, r_h, r_cyb, fee) == 0:
            return 0, 0
        result = amm.swap(self.ledger, BUYBACK_ACCOUNT, H, amount, fee_ppb=fee)
        burned = self.ledger.balance(BUYBACK_ACCOUNT, CYB)
        burn(self.ledger, self.journal, BUYBACK_ACCOUNT, CYB, burned, "buyback_burn_cyb")
        assert burned == result.amount_out
        return amount, burned

    def _deploy_liquidity(self) -> None:
        """Pair the treasury's H with its CYB at the pool ratio and deposit (price-neutral)."""
        cyb, h_amt = self.ledger.balance(POL_ACCOUNT, CYB), self.ledger.balance(POL_ACCOUNT, H)
        r_cyb = amm.reserves(self.ledger)[0]
        if cyb == 0 or h_amt == 0 or r_cyb == 0:
            return
        try:
            amm.add_liquidity(self.ledger, self.journal, POL_ACCOUNT, cyb_max=cyb, h_max=h_amt)
        except amm.AmmError:
            return  # too small to mint a share this block; it waits in the treasury
        assert amm.reserves(self.ledger)[0] >= r_cyb

    def _pay_rewards(
        self, h: int, rewards_h: int, gas_paid: Mapping[str, int], gains: Sequence[tuple[str, int]]
    ) -> tuple[int, int, int]:
        p = self.params
        rebate_budget = rewards_h * p.rewards_rebate_ppb // PPB
        focus_budget = rewards_h * p.rewards_focus_ppb // PPB
        paid = rebates(dict(gas_paid), rebate_budget, p.rebate_cap_ppb)
        for payer, amount in paid.items():
            transfer(self.ledger, GAS_ACCOUNT, payer, H, amount)
        rebated = sum(paid.values())
        focus = self.focus.accrue(list(gains), focus_budget)
        transfer(self.ledger, GAS_ACCOUNT, FOCUS_ACCOUNT, H, focus)
        tenure_budget = rewards_h - rebated - focus
        assert tenure_budget >= 0
        tenure = self.tenure.distribute(h, tenure_budget)
        transfer(self.ledger, GAS_ACCOUNT, TENURE_ACCOUNT, H, tenure)
        # Nobody to pay (no stake yet): the rest goes to the treasury, not lost.
        transfer(self.ledger, GAS_ACCOUNT, POL_ACCOUNT, H, tenure_budget - tenure)
        return rebated, focus, tenure

    def _settle_focus(self, h: int) -> int:
        due = self.params.focus_batch_max if h % self.params.focus_settle_interval_blocks == 0 else 0
        overflow = len(self.focus.pending) - focus_pending_max  # keep the stream bounded
        count = max(due, overflow)
        if count <= 0:
            return 0
        batch = self.focus.next_batch(count)
        for neuron, amount in batch:
            transfer(self.ledger, FOCUS_ACCOUNT, neuron, H, amount)
        return sum(a for _, a in batch)
