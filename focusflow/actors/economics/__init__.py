"""Economics: the dual-token model (CYB and H), adaptive gas split, rewards, AMM, breakers.

A deterministic, integer-only core over a narrow :class:`Ledger` protocol (balances in
``/token``). See docs/economics.md.
"""

from focusflow.actors.economics.core import (
    AddLiquidity,
    BlockInput,
    BlockRecord,
    ClaimTenure,
    EconGenesis,
    EconomicsCore,
    Propose,
    Receipt,
    RemoveLiquidity,
    Stake,
    Swap,
    Transfer,
    Unstake,
    Vote,
)
from focusflow.actors.economics.governance import Choice
from focusflow.actors.economics.ledger import (
    CYB,
    LP,
    H,
    Ledger,
    MemoryLedger,
    SupplyJournal,
    supply_conserved,
    supply_violations,
)
from focusflow.actors.economics.params import EconParams, ParamError

__all__ = [
    "CYB",
    "LP",
    "AddLiquidity",
    "BlockInput",
    "BlockRecord",
    "Choice",
    "ClaimTenure",
    "EconGenesis",
    "EconParams",
    "EconomicsCore",
    "H",
    "Ledger",
    "MemoryLedger",
    "ParamError",
    "Propose",
    "Receipt",
    "RemoveLiquidity",
    "Stake",
    "SupplyJournal",
    "Swap",
    "Transfer",
    "Unstake",
    "Vote",
    "supply_conserved",
    "supply_violations",
]
