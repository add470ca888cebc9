"""A small vote protocol with a bug that can be planted: the chaos harness's showcase.

Scenario "quorum" (``focusflow chaos`` runs it by default): ``n`` replicas (4, so f = 1)
agree on one value per height. For height h in view v the leader ``(h + v) mod n``
proposes a value; a replica votes **once per height** (the vote is persisted and synced
before it is sent, so a crash cannot make it vote twice); a value with a quorum of
``2f + 1`` votes is decided and the decision is broadcast. A replica that makes no
progress for a timeout moves to the next view, whose leader proposes again.

Safety argument (n = 3f + 1): two values decided at one height need 2·(2f + 1) = 4f + 2
votes, more than the n + f = 4f + 1 that n single votes plus f double-voting Byzantine
replicas can give. Liveness is not claimed: a split vote stalls a height for good (the
demo has no locks or view-change certificates), so campaigns check safety only.

The planted bug (``options.bug = "quorum_off_by_one"``): the quorum is ``2f`` instead of
``2f + 1``: the kind of off-by-one a BFT vote rule gets wrong. Fault-free runs never show
it (every replica votes for the view-0 leader's value); it needs a partition long enough
for both halves to change views and decide different values, which is what a campaign
finds, shrinks to one partition, and replays.

Core/shell split as everywhere: ``QuorumCore`` is sans-IO (inputs in, effects out);
``QuorumReplica`` is the actor shell that persists, broadcasts and arms timers.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from focusflow.chaos.faults import register_byzantine
from focusflow.chaos.invariants import register_invariant
from focusflow.chaos.points import buggify
from focusflow.chaos.world import ChaosWorld, provide, provided
from focusflow.sim import Simulation
from focusflow.sim.scenarios import register_scenario
from focusflow.supervisor import Actor, ChildSpec, Node, Supervisor, SupervisorFlags
from focusflow.wire import load_schema, message

_schema = load_schema(Path(__file__).with_name("quorum.capnp"))

NODES_DEFAULT = 4
TIMEOUT_MS_DEFAULT = 150.0
TICK_MS = 25.0
INTERVAL_MS = 40.0
HEIGHTS_MAX = 1_000_000
VOTES_PER_HEIGHT_MAX = 64
BUGS = ("none", "quorum_off_by_one")
REPLICA_PATH = "/user/sup/replica"


@message(_schema.QPropose)
class QPropose:
    height: int
    view: int
    value: str
    sender: int


@message(_schema.QVote)
class QVote:
    height: int
    view: int
    value: str
    voter: int


@message(_schema.QDecide)
class QDecide:
    height: int
    value: str
    voters: tuple[int, ...]


@message(_schema.QTick)
class QTick:
    pass


@message(_schema.QNext)
class QNext:
    pass


# ============================================================================ core
@dataclasses.dataclass(frozen=True, slots=True)
class Broadcast:
    """Send ``msg`` to every other replica."""

    msg: Any


@dataclasses.dataclass(frozen=True, slots=True)
class Persist:
    """Write ``key`` = ``value`` durably *before* carrying out the following effects."""

    key: str
    value: str


@dataclasses.dataclass(frozen=True, slots=True)
class Decided:
    """Height ``height`` was decided as ``value`` (schedule the next height)."""

    height: int
    value: str


Effect = Broadcast | Persist | Decided


def quorum_size(n: int, bug: str = "none") -> int:
    """Votes needed to decide among ``n`` replicas tolerating f = (n-1)//3 faults."""
    assert n >= 1 and bug in BUGS, (n, bug)
    f = (n - 1) // 3
    if bug == "quorum_off_by_one":
        return max(1, 2 * f)  # the planted bug: one vote short of 2f + 1
    return 2 * f + 1


class QuorumCore:
    """One replica's state machine. No I/O: ``receive``/``tick`` return effects."""

    def __init__(self, index: int, n: int, *, bug: str = "none",
                 timeout_ms: float = TIMEOUT_MS_DEFAULT,
                 voted: Mapping[int, str] | None = None,
                 decided: Mapping[int, str] | None = None) -> None:
        assert 0 <= index < n and timeout_ms > 0
        self.index = index
        self.n = n
        self.quorum = quorum_size(n, bug)
        self.timeout_ns = int(timeout_ms * 1_000_000)
        self.voted: dict[int, str] = dict(voted or {})
        self.decided: dict[int, str] = dict(decided or {})
        self.decided_max = max(self.decided, default=-1)
        self.height = self.decided_max + 1
        self.view = 0
        self.votes: dict[tuple[int, str], list[int]] = {}
        self.proposed: dict[tuple[int, int], bool] = {}
        self.last_progress_ns = 0
        self.double_vote = False  # a Byzantine switch (set by the shell)

    def leader(self, height: int, view: int) -> int:
        """The proposer of (height, view): rotates with both."""
        return (height + view) % self.n

    def start_height(self, now_ns: int) -> list[Effect]:
        """Begin the current height: the view-0 leader proposes."""
        self.last_progress_ns = now_ns
        return self._maybe_propose()

    def _maybe_propose(self) -> list[Effect]:
        key = (self.height, self.view)
        if self.leader(*key) != self.index or key in self.proposed:
            return []
        self.proposed[key] = True
        value = f"h{self.height}.v{self.view}.n{self.index}"
        prop = QPropose(self.height, self.view, value, self.index)
        return [Broadcast(prop), *self.receive(prop, self.last_progress_ns)]

    def tick(self, now_ns: int) -> list[Effect]:
        """Timeout check: no progress for ``timeout`` moves to the next view."""
        if now_ns - self.last_progress_ns < self.timeout_ns:
            return []
        self.view += 1
        self.last_progress_ns = now_ns
        return self._maybe_propose()

    def receive(self, msg: Any, now_ns: int) -> list[Effect]:
        """Handle a protocol message (from a peer, or this replica's own)."""
        if isinstance(msg, QPropose):
            return self._on_propose(msg)
        if isinstance(msg, QVote):
            return self._on_vote(msg, now_ns)
        if isinstance(msg, QDecide):
            if len(set(msg.voters)) >= self.quorum and msg.height not in self.decided:
                return self._decide(msg.height, msg.value, now_ns, announce=None)
            return []
        raise TypeError(f"unexpected message {type(msg).__name__}")  # a local bug

    def _on_propose(self, p: QPropose) -> list[Effect]:
        if p.height != self.height or p.sender != self.leader(p.height, p.view):
            return []  # stale, future, or not from that view's leader: ignore
        if p.height in self.voted and not self.double_vote:
            return []  # one vote per height, whatever the view
        self.voted[p.height] = p.value
        vote = QVote(p.height, p.view, p.value, self.index)
        return [Persist(f"vote.{p.height}", p.value), Broadcast(vote),
                *self._on_vote(vote, self.last_progress_ns)]

    def _on_vote(self, v: QVote, now_ns: int) -> list[Effect]:
        if v.height in self.decided or not 0 <= v.voter < self.n:
            return []
        voters = self.votes.setdefault((v.height, v.value), [])
        if v.voter in voters or len(voters) >= VOTES_PER_HEIGHT_MAX:
            return []
        voters.append(v.voter)
        if len(voters) >= self.quorum:
            return self._decide(v.height, v.value, now_ns, announce=tuple(sorted(voters)))
        return []

    def _decide(self, height: int, value: str, now_ns: int,
                announce: tuple[int, ...] | None) -> list[Effect]:
        assert height not in self.decided and height < HEIGHTS_MAX
        self.decided[height] = value
        self.decided_max = max(self.decided_max, height)
        effects: list[Effect] = [Persist(f"decided.{height}", value)]
        if announce is not None:
            effects.append(Broadcast(QDecide(height, value, announce)))
        effects.append(Decided(height, value))
        if height >= self.height:
            self.height, self.view = height + 1, 0
            self.last_progress_ns = now_ns
        for key in [k for k in self.votes if k[0] <= height]:
            del self.votes[key]
        return effects

    def invariants(self) -> None:
        """What must hold after every step (the simulator calls it via the shell)."""
        assert self.decided_max < self.height, "height behind a decision"
        assert self.view >= 0 and 1 <= self.quorum <= self.n
        assert len(self.votes) <= VOTES_PER_HEIGHT_MAX * self.n


# ============================================================================ observations
class Observations:
    """What the invariants see, kept outside the actors (survives crashes)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        #: height -> node -> decided value.
        self.decisions: dict[int, dict[str, str]] = {}
        #: height -> values proposed by anyone.
        self.proposed: dict[int, list[str]] = {}
        #: (node, height) -> values that node sent votes for.
        self.votes_sent: dict[tuple[str, int], list[str]] = {}
        #: node -> Byzantine behaviours switched on.
        self.byzantine: dict[str, list[str]] = {}
        #: Append-only logs of what changed, so invariants check only what is new
        #: (each keeps its own cursor): decided heights, and (node, height) of votes.
        self.decision_log: list[int] = []
        self.vote_log: list[tuple[str, int]] = []
        self.cursors: dict[str, int] = {}

    def new(self, name: str, log: list[Any]) -> tuple[list[Any], int]:
        """Entries of ``log`` invariant ``name`` has not checked yet, and the end."""
        start = self.cursors.get(name, 0)
        return log[start:], len(log)

    def honest(self, node: str) -> bool:
        """Whether ``node`` has never been made Byzantine."""
        return not self.byzantine.get(node)


# ============================================================================ shell
class QuorumReplica(Actor):
    """Actor shell: persists before sending, broadcasts, arms the tick and next timers."""

    def __init__(self, index: int, names: tuple[str, ...], bug: str,
                 obs: Observations) -> None:
        self.index = index
        self.names = names
        self.bug = bug
        self.obs = obs
        self.me = names[index]
        self.core: QuorumCore | None = None

    async def on_start(self) -> None:
        storage = self.ctx.storage
        voted = {int(k.split(".")[1]): (await storage.read(k) or b"").decode()
                 for k in storage.keys("vote.")}
        decided = {int(k.split(".")[1]): (await storage.read(k) or b"").decode()
                   for k in storage.keys("decided.")}
        timeout_ms = TIMEOUT_MS_DEFAULT / 4 if buggify("quorum.short_timeout") else \
            TIMEOUT_MS_DEFAULT
        self.core = QuorumCore(self.index, len(self.names), bug=self.bug,
                               timeout_ms=timeout_ms, voted=voted, decided=decided)
        self.ctx.start_timer("tick", TICK_MS, QTick(), repeat=True)
        self.ctx.start_timer("next", INTERVAL_MS, QNext())

    async def receive(self, msg: Any) -> Any:
        core = self.core
        assert core is not None
        core.double_vote = "double_vote" in self.obs.byzantine.get(self.me, ())
        now = self.ctx.now_ns()
        if isinstance(msg, QTick):
            effects = core.tick(now)
        elif isinstance(msg, QNext):
            effects = core.start_height(now)
        else:
            effects = core.receive(msg, now)
        await self._carry_out(effects)
        return None

    async def _carry_out(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Persist):
                if buggify("quorum.slow_persist", p=0.1):
                    await self.ctx.sleep(20.0)
                await self.ctx.storage.write(effect.key, effect.value.encode())
                await self.ctx.storage.sync()  # EIO crashes the replica: nothing sent
            elif isinstance(effect, Broadcast):
                await self._broadcast(effect.msg)
            else:
                self.obs.decisions.setdefault(effect.height, {})[self.me] = effect.value
                self.obs.decision_log.append(effect.height)
                self.ctx.start_timer("next", INTERVAL_MS, QNext())

    async def _broadcast(self, msg: Any) -> None:
        behaviours = self.obs.byzantine.get(self.me, ())
        if "withhold" in behaviours:
            return
        if isinstance(msg, QPropose):
            self.obs.proposed.setdefault(msg.height, []).append(msg.value)
        if isinstance(msg, QVote):
            self.obs.votes_sent.setdefault((self.me, msg.height), []).append(msg.value)
            self.obs.vote_log.append((self.me, msg.height))
        for i, peer in enumerate(self.names):
            if peer == self.me:
                continue
            out = msg
            target = self.ctx.ref_for(peer, REPLICA_PATH)
            if isinstance(msg, QPropose) and "equivocate" in behaviours:
                # a different value for every peer, each backed by the leader's own vote
                out = dataclasses.replace(msg, value=f"{msg.value}.x{i}")
                self.obs.proposed.setdefault(msg.height, []).append(out.value)
                await self.ctx.tell(target, out)
                await self.ctx.tell(target, QVote(msg.height, msg.view, out.value, self.index))
                continue
            await self.ctx.tell(target, out)


# ============================================================================ scenario
def _add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--bug", choices=BUGS, default=None,
                       help="quorum: plant a bug (default none)")


def build(sim: Simulation, options: Mapping[str, Any]) -> None:
    """Scenario "quorum": ``nodes`` replicas (default 4) under supervisors."""
    n = int(options.get("nodes") or NODES_DEFAULT)
    bug = str(options.get("bug") or "none")
    if bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; known: {', '.join(BUGS)}")
    if not 1 <= n <= 64:
        raise ValueError("the quorum scenario needs 1..64 nodes")
    names = tuple(f"n{i}" for i in range(n))
    obs = Observations(names)
    sim.network.set_default(latency_ms=5.0, jitter_ms=2.0)

    def boot(node: Node) -> None:
        index = names.index(node.name)
        node.spawn(Supervisor, SupervisorFlags(intensity=10, period_ms=1_000), [
            ChildSpec("replica", QuorumReplica, (index, names, bug, obs))], name="sup")

    for name in names:
        sim.add_node(name, boot=boot)
    provide(sim, "quorum", obs)


def _finish(sim: Simulation, options: Mapping[str, Any]) -> Mapping[str, Any]:
    obs = [o for o in provided(sim, "quorum") if isinstance(o, Observations)]
    heights = max((len(o.decisions) for o in obs), default=0)
    return {"heights_decided": heights}


register_scenario("quorum", help="chaos demo: one-vote-per-height BFT-style agreement "
                  "(--option bug=quorum_off_by_one plants an off-by-one quorum)", add_arguments=_add_arguments,
                  finish=_finish, duration_ms=3_000.0)(build)


# ============================================================================ invariants
def _observations(world: ChaosWorld) -> list[Observations]:
    return [o for o in world.provided("quorum") if isinstance(o, Observations)]


@register_invariant("quorum.agreement", component="quorum")
def agreement(world: ChaosWorld) -> bool:
    """No two honest replicas decide different values at the same height."""
    for obs in _observations(world):
        heights, end = obs.new("agreement", obs.decision_log)
        for height in heights:
            by_node = obs.decisions[height]
            values = sorted({v for node, v in by_node.items() if obs.honest(node)})
            assert len(values) <= 1, f"height {height} decided as {values} ({by_node})"
        obs.cursors["agreement"] = end
    return True


@register_invariant("quorum.validity", component="quorum")
def validity(world: ChaosWorld) -> bool:
    """Every value an honest replica decides was proposed by some replica."""
    for obs in _observations(world):
        heights, end = obs.new("validity", obs.decision_log)
        for height in heights:
            proposed = obs.proposed.get(height, [])
            for node, value in obs.decisions[height].items():
                assert not obs.honest(node) or value in proposed, (
                    f"{node} decided unproposed {value!r} at height {height}")
        obs.cursors["validity"] = end
    return True


@register_invariant("quorum.vote_once", component="quorum")
def vote_once(world: ChaosWorld) -> bool:
    """An honest replica sends at most one vote per height, across crashes."""
    for obs in _observations(world):
        keys, end = obs.new("vote_once", obs.vote_log)
        for node, height in keys:
            values = obs.votes_sent[(node, height)]
            assert not obs.honest(node) or len(values) <= 1, (
                f"{node} voted {values} at height {height}")
        obs.cursors["vote_once"] = end
    return True


# ============================================================================ Byzantine
def _byzantine(behaviour: str) -> Any:
    def switch(world: ChaosWorld, node: str, params: Mapping[str, Any]) -> Any:
        for obs in _observations(world):
            flags = obs.byzantine.setdefault(node, [])
            if behaviour not in flags:
                flags.append(behaviour)

        def undo() -> None:
            for obs in _observations(world):
                flags = obs.byzantine.get(node, [])
                if behaviour in flags:
                    flags.remove(behaviour)
                # a replica once Byzantine stays excluded from the honesty invariants
                obs.byzantine.setdefault(node, []).append(f"was:{behaviour}")

        return undo

    return switch


for _name in ("equivocate", "withhold", "double_vote"):
    register_byzantine(f"quorum.{_name}", _byzantine(_name))
