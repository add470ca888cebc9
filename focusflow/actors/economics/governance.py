"""Governance of economics parameters: stake-weighted proposals, quorum and threshold.

A proposal changes one or more parameters. It is checked against the bounds when it is
submitted (a nonsense value never reaches a vote) and again when it passes (another
proposal may have changed the context meanwhile). A staker votes once per proposal
with its stake at voting time; its stake is then locked until the vote ends, so the same
CYB cannot vote twice by moving between accounts. At the first block after the voting
period the proposal is tallied: it passes when turnout (yes + no + abstain) reaches
``gov_quorum_ppb`` of all staked CYB and ``yes`` reaches ``gov_threshold_ppb`` of
``yes + no``. Passed changes take effect at the start of that block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from focusflow.actors.economics.fixed import PPB, ceil_div
from focusflow.actors.economics.ledger import EconError
from focusflow.actors.economics.params import EconParams, ParamError

gov_active_max = 64
"""At most this many proposals may be open at once (overload gets a clear refusal)."""
gov_changes_max = 16
"""At most this many parameters per proposal."""
DEALER_PREFIX = "dealer:"
"""A change named ``dealer:<account>`` with value true/false adds/removes a primary dealer."""
dealer_name_bytes_max = 64


def split_changes(changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bool]]:
    """Separate parameter changes from primary-dealer allow-list changes.

    Raises:
        ParamError: a dealer change whose value is not a bool or whose account is empty
            or too long.
    """
    params: dict[str, Any] = {}
    dealers: dict[str, bool] = {}
    for name, value in changes.items():
        if not name.startswith(DEALER_PREFIX):
            params[name] = value
            continue
        account = name[len(DEALER_PREFIX) :]
        if not isinstance(value, bool):
            raise ParamError(f"{name}={value!r}: a dealer change takes true (add) or false (remove)")
        if not 0 < len(account.encode()) <= dealer_name_bytes_max:
            raise ParamError(f"{name}: dealer account must be 1..{dealer_name_bytes_max} bytes")
        dealers[account] = value
    return params, dealers


class GovError(EconError):
    """A governance transaction was refused (the sender's fault)."""


class Choice(Enum):
    """A vote."""

    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


class Status(Enum):
    """Where a proposal is."""

    VOTING = "voting"
    PASSED = "passed"
    REJECTED = "rejected"
    INVALID = "invalid"  # passed the vote but no longer valid against current parameters


@dataclass(slots=True)
class Proposal:
    """One parameter-change proposal and its running tally."""

    pid: int
    proposer: str
    changes: tuple[tuple[str, Any], ...]
    voting_ends: int  # last height at which votes count
    yes: int = 0
    no: int = 0
    abstain: int = 0
    voters: dict[str, int] = field(default_factory=dict)
    status: Status = Status.VOTING
    note: str = ""


@dataclass(slots=True)
class Governance:
    """Open and closed proposals, and the stake locks that votes impose."""

    next_pid: int = 1
    proposals: dict[int, Proposal] = field(default_factory=dict)
    locks: dict[str, int] = field(default_factory=dict)  # account -> locked through height

    def propose(
        self, params: EconParams, proposer: str, stake: int, changes: dict[str, Any], height: int
    ) -> Proposal:
        """Open a proposal; returns it.

        Raises:
            ParamError: a change is unknown or out of bounds (names the parameter).
            GovError: the proposer's stake is below ``gov_proposal_stake_min``, the
                proposal is empty or too large, or too many proposals are open.
        """
        if stake < params.gov_proposal_stake_min or stake <= 0:
            raise GovError(f"{proposer} stakes {stake}, needs {params.gov_proposal_stake_min}")
        if not changes or len(changes) > gov_changes_max:
            raise GovError(f"a proposal changes 1..{gov_changes_max} parameters, not {len(changes)}")
        if sum(p.status is Status.VOTING for p in self.proposals.values()) >= gov_active_max:
            raise GovError(f"{gov_active_max} proposals are already open")
        param_changes, _ = split_changes(changes)  # raises ParamError on a bad dealer change
        params.replace(**param_changes)  # raises ParamError with the offending name and bound
        prop = Proposal(
            self.next_pid, proposer, tuple(sorted(changes.items())), height + params.gov_voting_blocks
        )
        self.proposals[prop.pid] = prop
        self.next_pid += 1
        return prop

    def vote(self, voter: str, stake: int, pid: int, choice: Choice, height: int) -> None:
        """Cast ``stake`` on ``pid``; locks the voter's stake until the vote ends.

        Raises:
            GovError: unknown or closed proposal, no stake, or a second vote.
        """
        prop = self.proposals.get(pid)
        if prop is None or prop.status is not Status.VOTING or height > prop.voting_ends:
            raise GovError(f"proposal {pid} is not open for votes")
        if stake <= 0:
            raise GovError(f"{voter} has no stake to vote with")
        if voter in prop.voters:
            raise GovError(f"{voter} already voted on proposal {pid}")
        prop.voters[voter] = stake
        if choice is Choice.YES:
            prop.yes += stake
        elif choice is Choice.NO:
            prop.no += stake
        else:
            prop.abstain += stake
        self.locks[voter] = max(self.locks.get(voter, 0), prop.voting_ends)
        assert prop.yes + prop.no + prop.abstain == sum(prop.voters.values())

    def locked(self, account: str, height: int) -> bool:
        """Whether ``account``'s stake is locked by a vote at ``height``."""
        return self.locks.get(account, -1) >= height

    def tally(self, params: EconParams, total_staked: int, height: int) -> tuple[EconParams, list[Proposal]]:
        """Close every proposal whose voting ended before ``height``; apply those that pass.

        Returns the parameters in effect from ``height`` and the proposals closed now.
        """
        closed: list[Proposal] = []
        for pid in sorted(self.proposals):
            prop = self.proposals[pid]
            if prop.status is not Status.VOTING or prop.voting_ends >= height:
                continue
            turnout = prop.yes + prop.no + prop.abstain
            quorum = ceil_div(params.gov_quorum_ppb * total_staked, PPB)
            decided = prop.yes + prop.no
            passes = (
                turnout > 0
                and turnout >= quorum
                and decided > 0
                and prop.yes * PPB >= params.gov_threshold_ppb * decided
            )
            if not passes:
                prop.status = Status.REJECTED
                prop.note = f"turnout {turnout} (quorum {quorum}), yes {prop.yes}, no {prop.no}"
            else:
                try:
                    params = params.replace(**split_changes(dict(prop.changes))[0])
                    prop.status = Status.PASSED
                except ParamError as exc:
                    prop.status, prop.note = Status.INVALID, str(exc)
            closed.append(prop)
        self.locks = {a: h for a, h in self.locks.items() if h >= height}
        return params, closed
