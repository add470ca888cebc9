"""The door for remote messages: what another node may send to which actor, and why.

ARCHITECTURE rule 8: nothing remote is trusted. Every envelope that arrives from another
node (a transport's ``receive_frame``) passes ``RemoteGate`` before it touches a mailbox,
a watch table or a pending ask; an envelope made on this node never does (the hot path of
local messages is untouched).

* **Ordinary messages** (tell, ask) are checked against a ``RemotePolicy``: per actor path,
  per role of the sending node, the message classes it may send. The policy is data,
  built once per network (``focusflow.topology.node_tree.node_policy`` for a live node)
  and installed with ``Node.set_remote_policy``; a node without one (tests, the
  simulator's in-process worlds, single-process deployments) accepts ordinary messages
  from any node but still applies every rule below.
* **System messages** are accepted only where something the sending node set up justifies
  them: a ``Down`` only for a watch this node's actor really holds on an actor of *that*
  node; a ``Watch``/``Unwatch`` only for a watcher on the sending node, within a bound per
  peer (``watches_per_peer_max``), on an actor it may talk to; an ``Exit`` never (a
  parent always lives on its child's node, so no remote node holds a link that could
  justify one); a ``Stop`` never (stopping is a local, supervised decision).
* **Signals never as ordinary messages**: a ``Down``, ``Exit``, ``Stop``, ``Watch`` or
  ``Unwatch`` inside a tell or ask from another node is refused (a watcher's ``receive``
  would take a forged ``Down`` for a death).
* **Answers** (reply, error) only for an ask this node sent to an actor of that node.
* **Routes**: a remote sender or receiver path longer than ``REMOTE_PATH_CHARS_MAX`` is
  refused before any table keys on it.

Everything refused is counted (``Node.stats["refused"]``, per peer and reason in
``RemoteGate.refusals``) and logged (at the 1st, 2nd, 4th, 8th ... refusal of a peer
and reason, so a flood cannot flood the log); an ask refused gets an ``Unauthorized``
error answer. Nothing here raises into an actor.

The watch table of a peer is freed when the peer disconnects (``Node.peer_down``), as
Erlang drops a node's monitors on ``nodedown``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Longest actor path a remote route may name (ours are a few dozen characters).
REMOTE_PATH_CHARS_MAX = 256
#: Remote watches one peer may hold on this node's actors, by default.
WATCHES_PER_PEER_MAX_DEFAULT = 256
#: (peer, reason) refusal counters kept; cleared when full (senders may be many in tests).
REFUSAL_KEYS_MAX = 1024
#: The roles a node of a network has (genesis: the committee; config: everything else).
ROLES = ("validator", "full", "light")
#: The node's own address (``Ping``/``Pong``): open to every peer.
NODE_PATH = "/"


@dataclass(frozen=True)
class RemotePolicy:
    """Who may send what to which actor (ordinary messages; see the module docstring).

    ``roles``: node name → role (a node not listed is refused everything but ``Ping``);
    ``actors``: actor path → role → the message classes that role may tell or ask there
    (a path not listed accepts nothing remote).
    """

    roles: Mapping[str, str]
    actors: Mapping[str, Mapping[str, frozenset[type]]]
    watches_per_peer_max: int = WATCHES_PER_PEER_MAX_DEFAULT

    def __post_init__(self) -> None:
        assert all(r in ROLES for r in self.roles.values()), self.roles
        assert all(r in ROLES for per in self.actors.values() for r in per), self.actors
        assert self.watches_per_peer_max >= 0

    def allows(self, node: str, path: str, cls: type) -> bool:
        """Whether ``node`` may tell or ask the actor at ``path`` a ``cls``."""
        role = self.roles.get(node)
        return role is not None and cls in self.actors.get(path, {}).get(role, ())

    def may_watch(self, node: str, path: str) -> bool:
        """Whether ``node`` may watch the actor at ``path``: only one it may talk to."""
        role = self.roles.get(node)
        return role is not None and bool(self.actors.get(path, {}).get(role))


@dataclass
class RemoteGate:
    """One node's door state: its policy, per-peer watch tables and refusal counters."""

    node_name: str
    log: Any
    policy: RemotePolicy | None = None
    #: peer → {(watched local path, watcher path on the peer)}: every remote watch held.
    watches: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    refusals: dict[tuple[str, str], int] = field(default_factory=dict)
    refused: int = 0
    #: (node, path, class) → verdict of ``allows`` (a pure function of the policy).
    _verdicts: dict[tuple[str, str, type], bool] = field(default_factory=dict)

    def set_policy(self, policy: RemotePolicy | None) -> None:
        """Install (or remove, with None) the policy for ordinary messages."""
        self.policy = policy
        self._verdicts.clear()

    def allows(self, node: str, path: str, cls: type) -> bool:
        """Whether an ordinary message from ``node`` may reach ``path`` (cached)."""
        policy = self.policy
        if policy is None:
            return True
        key = (node, path, cls)
        verdict = self._verdicts.get(key)
        if verdict is None:
            if len(self._verdicts) >= REFUSAL_KEYS_MAX * 4:
                self._verdicts.clear()
            verdict = self._verdicts[key] = policy.allows(node, path, cls)
        return verdict

    def may_watch(self, node: str, path: str) -> str | None:
        """Why ``node`` may not add a watch on ``path`` now (None: it may)."""
        if self.policy is not None and not self.policy.may_watch(node, path):
            return "watch_not_authorized"
        limit = (WATCHES_PER_PEER_MAX_DEFAULT if self.policy is None
                 else self.policy.watches_per_peer_max)
        if len(self.watches.get(node, ())) >= limit:
            return "watch_table_full"
        return None

    def watch_added(self, node: str, path: str, watcher_path: str) -> None:
        self.watches.setdefault(node, set()).add((path, watcher_path))

    def watch_removed(self, node: str, path: str, watcher_path: str) -> None:
        held = self.watches.get(node)
        if held is not None:
            held.discard((path, watcher_path))
            if not held:
                del self.watches[node]

    def refuse(self, node: str, reason: str, **details: Any) -> None:
        """Count and (at powers of two per peer and reason) log one refusal."""
        self.refused += 1
        key = (node, reason)
        if key not in self.refusals and len(self.refusals) >= REFUSAL_KEYS_MAX:
            self.refusals.clear()
        n = self.refusals[key] = self.refusals.get(key, 0) + 1
        if n & (n - 1) == 0:
            self.log.warning("remote_refused", peer=node[:REMOTE_PATH_CHARS_MAX],
                             reason=reason, count=n, **details)
