"""The supervisor tree of one live node.

::

    /user/node            NodeSupervisor (one_for_one, 3 restarts in 10 s)
    └── validator         focusflow.node.validator.Validator

A crashed validator actor is restarted on its data dir; its double-sign guard then makes
it a follower (block sync) rather than a signer (see ``focusflow.node.validator``).
The tree holds no protocol logic; it only records, per child path, how many times it
died abnormally and why (what ``focusflow actors list`` shows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from focusflow.supervisor import (
    Actor,
    ChildSpec,
    Exit,
    RemotePolicy,
    Supervisor,
    SupervisorFlags,
    is_normal_exit,
)

NODE_RESTARTS_MAX = 3
NODE_RESTART_PERIOD_MS = 10_000


class NodeSupervisor(Supervisor):
    """A ``Supervisor`` that remembers each child's abnormal exits (count, last cause)."""

    def __init__(self, flags: SupervisorFlags | None = None,
                 children: tuple[ChildSpec, ...] = ()) -> None:
        super().__init__(flags, children)
        self.deaths: dict[str, tuple[int, str]] = {}

    async def on_child_exit(self, exit: Exit) -> None:
        if not is_normal_exit(exit.reason):
            count, _ = self.deaths.get(exit.actor.path, (0, ""))
            self.deaths[exit.actor.path] = (count + 1, exit.reason)
        await super().on_child_exit(exit)


def node_tree(validator_settings: Any, *, validator: type[Actor] | None = None,
              validator_kwargs: Mapping[str, Any] | None = None) -> ChildSpec:
    """The child spec of a node's root supervisor (start it with ``spawn_spec``).

    ``focusflow node`` and every simulated validator node (``focusflow sim --scenario
    network``, its chaos world) start this same tree. ``validator``/``validator_kwargs``
    exist for one caller: a simulation's *Byzantine* node, which runs a subclass of the
    production validator whose traffic an adversary rewrites; honest nodes never pass them.
    """
    from focusflow.node.validator import Validator

    flags = SupervisorFlags("one_for_one", intensity=NODE_RESTARTS_MAX,
                            period_ms=NODE_RESTART_PERIOD_MS, backoff_ms_base=100,
                            backoff_ms_max=2_000)
    children = (ChildSpec(id="validator", start=validator or Validator, args=(validator_settings,),
                          kwargs=dict(validator_kwargs or {}), shutdown_ms=5_000,
                          mailbox_depth_max=65_536),)
    return ChildSpec(id="node", start=NodeSupervisor, args=(flags, children), shutdown_ms=None)


@dataclass(frozen=True, slots=True)
class PeerRole:
    """A pinned peer outside the committee and its role (``[[p2p.peers]] role``)."""

    name: str
    role: str = "full"


def node_policy(committee: Iterable[Any], peers: Iterable[Any]) -> RemotePolicy:
    """What a remote node may send to this node's actors, by its role (rule 8).

    Roles: a node of the genesis committee is a ``validator``; any other pinned peer is
    what its ``[[p2p.peers]] role`` says (``full`` by default, or ``light``). Only the validator actor takes remote messages, and only these (the
    table is the same on every node of a network, and ``docs/operations.md`` shows it):

    ============  ===========================================================
    role          messages to ``/user/node/validator``
    ============  ===========================================================
    validator     ConsensusFrame, BlocksFrom, Blocks, OfferedBlock, SubmitTxs (forwarded)
    full          BlocksFrom, SubmitTxs (forwarded by a full node)
    light         BlocksFrom
    ============  ===========================================================

    ``Query`` is not remote at all (clients query over HTTP); the node supervisor takes
    nothing remote (a ``Stop``/``Exit`` from a peer is refused by the gate anyway).
    """
    from focusflow.node.messages import Blocks, BlocksFrom, ConsensusFrame, OfferedBlock, SubmitTxs
    from focusflow.node.validator import VALIDATOR_PATH

    validators = {e.node for e in committee}
    roles = {p.name: getattr(p, "role", "full") for p in peers} | {
        n: "validator" for n in validators}
    table = {"validator": frozenset({ConsensusFrame, BlocksFrom, Blocks, OfferedBlock, SubmitTxs}),
             "full": frozenset({BlocksFrom, SubmitTxs}),
             "light": frozenset({BlocksFrom})}
    return RemotePolicy(roles=roles, actors={VALIDATOR_PATH: table})
