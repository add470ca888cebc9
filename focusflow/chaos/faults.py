"""Fault kinds: what a fault plan can do to a simulated world.

Each kind is a frozen dataclass registered under its TOML name with ``@fault_kind``. It
has ``at_ms`` (virtual time of injection), ``apply(world)`` (returns None when applied,
or a reason when it does not apply now, e.g. crashing a node that is already down) and,
optionally, ``random(rng, world, at_ms)`` so campaigns can generate it. Adding a fault
for a new component is a few lines::

    @fault_kind("stall_sequencer")
    @dataclasses.dataclass(frozen=True)
    class StallSequencer(Fault):
        node: str = ""
        def apply(self, world): ...

Byzantine behaviours are supplied by components with ``register_byzantine(name, fn)``;
the ``byzantine`` fault turns one on for a node (``fn(world, node, params)`` returns an
undo callable, or None).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from focusflow.chaos.world import ChaosWorld
from focusflow.sim import LinkConfig

FOR_MS_MAX = 3_600_000.0
SKEW_MS_MAX = 3_600_000.0

_KINDS: dict[str, type[Fault]] = {}
ByzantineFn = Callable[[ChaosWorld, str, Mapping[str, Any]], Callable[[], None] | None]
_BYZANTINE: dict[str, ByzantineFn] = {}


def fault_kind(name: str) -> Callable[[type[Fault]], type[Fault]]:
    """Class decorator: register a fault kind under its TOML name."""
    assert name and name.isidentifier(), name

    def wrap(cls: type[Fault]) -> type[Fault]:
        cls.kind = name
        _KINDS[name] = cls
        return cls

    return wrap


def fault_kinds() -> dict[str, type[Fault]]:
    """Every registered fault kind (by name, sorted)."""
    return dict(sorted(_KINDS.items()))


def register_byzantine(name: str, fn: ByzantineFn) -> None:
    """Register a component's Byzantine behaviour (e.g. "quorum.equivocate")."""
    assert name, "a Byzantine behaviour needs a name"
    assert _BYZANTINE.get(name, fn) is fn, f"{name!r} registered twice"
    _BYZANTINE[name] = fn


def byzantine_behaviours() -> list[str]:
    """Names of the registered Byzantine behaviours."""
    return sorted(_BYZANTINE)


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def fault_from_dict(data: Mapping[str, Any]) -> Fault:
    """Build a fault from its TOML/JSON form ``{kind = "...", at_ms = ..., ...}``.

    Raises:
        ValueError: unknown kind or field (the plan's author's fault).
    """
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(fault_kinds())}")
    known = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(set(fields) - known)
    if extra:
        raise ValueError(f"fault {kind!r} has no field(s) {', '.join(extra)}")
    return cls(**{k: _freeze(v) for k, v in fields.items()})


@dataclasses.dataclass(frozen=True)
class Fault:
    """Base of every fault: injected at ``at_ms`` of virtual time."""

    kind: ClassVar[str] = ""
    at_ms: float = 0.0

    def __post_init__(self) -> None:
        assert 0.0 <= self.at_ms <= 24 * 3_600_000.0, self.at_ms
        for_ms = getattr(self, "for_ms", None)
        assert for_ms is None or 0.0 < for_ms <= FOR_MS_MAX, for_ms

    def apply(self, world: ChaosWorld) -> str | None:
        """Inject the fault; return None, or why it does not apply now."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The TOML/JSON form (inverse of ``fault_from_dict``)."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value != f.default or f.name == "at_ms":
                out[f.name] = _thaw(value)
        return out

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        """A random instance for generated plans (kinds without one are plan-only)."""
        raise NotImplementedError(f"fault {cls.kind!r} cannot be generated")


def _pick_node(rng: random.Random, world: ChaosWorld) -> str:
    nodes = world.nodes
    if not nodes:  # a scenario without simulated nodes: node faults cannot apply
        raise NotImplementedError("the scenario has no nodes")
    return nodes[rng.randrange(len(nodes))]


def _for_ms(rng: random.Random) -> float:
    return float(rng.choice((100, 200, 400, 800, 1600)))


# ============================================================================ actors
@fault_kind("kill_actor")
@dataclasses.dataclass(frozen=True)
class KillActor(Fault):
    """Kill one actor (brutally, as a crash would); its supervisor decides the restart.

    ``reason`` "killed" is OTP's brutal kill; "error:..." makes it look like a crash.
    """

    node: str = ""
    path: str = ""
    reason: str = "killed"

    def apply(self, world: ChaosWorld) -> str | None:
        if not world.sim.is_up(self.node):
            return "node down"
        node = world.sim.node(self.node)
        cell = node._cells.get(self.path)  # the runtime's own kill, as crash_node uses
        if cell is None:
            return "no such actor"
        node._kill(cell, self.reason)
        return None

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        name = _pick_node(rng, world)
        node = world.sim.node(name)
        paths = sorted(p for p in node._cells if p.count("/") >= 3) or sorted(node._cells)
        return cls(at_ms=at_ms, node=name, path=paths[rng.randrange(len(paths))] if paths else "/")


# ============================================================================ nodes
@fault_kind("crash_node")
@dataclasses.dataclass(frozen=True)
class CrashNode(Fault):
    """Crash a node (unsynced writes lost); restart it ``restart_after_ms`` later if set."""

    node: str = ""
    restart_after_ms: float | None = None

    def apply(self, world: ChaosWorld) -> str | None:
        if not world.sim.is_up(self.node):
            return "node already down"
        world.sim.crash_node(self.node)
        if self.restart_after_ms is not None:
            world.after(self.restart_after_ms, lambda: _restart(world, self.node))
        return None

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        return cls(at_ms=at_ms, node=_pick_node(rng, world), restart_after_ms=_for_ms(rng))


def _restart(world: ChaosWorld, node: str) -> None:
    if not world.sim.is_up(node):
        world.sim.restart_node(node)


@fault_kind("restart_node")
@dataclasses.dataclass(frozen=True)
class RestartNode(Fault):
    """Restart a crashed node from its durable disk."""

    node: str = ""

    def apply(self, world: ChaosWorld) -> str | None:
        if world.sim.is_up(self.node):
            return "node is up"
        world.sim.restart_node(self.node)
        return None


# ============================================================================ network
@fault_kind("partition")
@dataclasses.dataclass(frozen=True)
class Partition(Fault):
    """Split the network into groups (unnamed nodes form one more); heal later if set."""

    groups: tuple[tuple[str, ...], ...] = ()
    heal_after_ms: float | None = None

    def apply(self, world: ChaosWorld) -> str | None:
        world.sim.network.partition(*[list(g) for g in self.groups])
        if self.heal_after_ms is not None:
            world.after(self.heal_after_ms, world.sim.network.heal)
        return None

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        nodes = list(world.nodes)
        if len(nodes) < 2:
            raise NotImplementedError("a partition needs two nodes")
        rng.shuffle(nodes)
        cut = rng.randrange(1, len(nodes)) if len(nodes) > 1 else 1
        return cls(at_ms=at_ms, groups=(tuple(sorted(nodes[:cut])),),
                   heal_after_ms=_for_ms(rng))


@fault_kind("isolate")
@dataclasses.dataclass(frozen=True)
class Isolate(Fault):
    """Cut one node off from all others."""

    node: str = ""
    heal_after_ms: float | None = None

    def apply(self, world: ChaosWorld) -> str | None:
        world.sim.network.isolate(self.node)
        if self.heal_after_ms is not None:
            world.after(self.heal_after_ms, world.sim.network.heal)
        return None

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        return cls(at_ms=at_ms, node=_pick_node(rng, world), heal_after_ms=_for_ms(rng))


@fault_kind("heal")
@dataclasses.dataclass(frozen=True)
class Heal(Fault):
    """Remove every partition."""

    def apply(self, world: ChaosWorld) -> str | None:
        world.sim.network.heal()
        return None


def _links(world: ChaosWorld, src: str, dst: str) -> list[tuple[str, str]] | None:
    """The directed links a message fault touches (None: the default of all links)."""
    if not src and not dst:
        return None
    nodes = world.nodes
    return [(s, d) for s in ([src] if src else nodes) for d in ([dst] if dst else nodes)
            if s != d]


def _change_links(world: ChaosWorld, src: str, dst: str, for_ms: float | None,
                  changes: dict[str, float]) -> None:
    net = world.sim.network
    links = _links(world, src, dst)
    if links is None:
        before_default = net.default
        net.set_default(**changes)

        def undo_default() -> None:
            net.default = before_default

        if for_ms is not None:
            world.after(for_ms, undo_default)
        return
    before: list[tuple[str, str, LinkConfig]] = [(s, d, net.link(s, d)) for s, d in links]
    for s, d in links:
        net.set_link(s, d, symmetric=False, **changes)

    def undo() -> None:
        for s, d, cfg in before:
            net._links[(s, d)] = cfg

    if for_ms is not None:
        world.after(for_ms, undo)


@dataclasses.dataclass(frozen=True)
class _MessageFault(Fault):
    """Base of drop/duplicate/reorder: probability ``p`` on src→dst ("" = any)."""

    field: ClassVar[str] = ""
    p: float = 0.1
    src: str = ""
    dst: str = ""
    for_ms: float | None = None

    def apply(self, world: ChaosWorld) -> str | None:
        assert 0.0 <= self.p <= 1.0, self.p
        _change_links(world, self.src, self.dst, self.for_ms, {self.field: self.p})
        return None

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        src = _pick_node(rng, world) if rng.random() < 0.5 else ""
        return cls(at_ms=at_ms, p=rng.choice((0.05, 0.2, 0.5, 1.0)), src=src,
                   for_ms=_for_ms(rng))


@fault_kind("drop")
@dataclasses.dataclass(frozen=True)
class Drop(_MessageFault):
    """Lose messages with probability ``p``."""

    field: ClassVar[str] = "loss"


@fault_kind("duplicate")
@dataclasses.dataclass(frozen=True)
class Duplicate(_MessageFault):
    """Deliver messages twice with probability ``p``."""

    field: ClassVar[str] = "duplicate"


@fault_kind("reorder")
@dataclasses.dataclass(frozen=True)
class Reorder(_MessageFault):
    """Let messages overtake earlier ones with probability ``p``."""

    field: ClassVar[str] = "reorder"


@fault_kind("delay")
@dataclasses.dataclass(frozen=True)
class Delay(Fault):
    """Slow links down: latency (and jitter) on src→dst ("" = any)."""

    latency_ms: float = 100.0
    jitter_ms: float = 0.0
    src: str = ""
    dst: str = ""
    for_ms: float | None = None

    def apply(self, world: ChaosWorld) -> str | None:
        _change_links(world, self.src, self.dst, self.for_ms,
                      {"latency_ms": self.latency_ms, "jitter_ms": self.jitter_ms})
        return None

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        latency = float(rng.choice((20, 100, 300, 1000)))
        return cls(at_ms=at_ms, latency_ms=latency, jitter_ms=latency / 2,
                   src=_pick_node(rng, world) if rng.random() < 0.5 else "",
                   for_ms=_for_ms(rng))


@fault_kind("corrupt")
@dataclasses.dataclass(frozen=True)
class Corrupt(Fault):
    """Flip one random byte of frames on src→dst with probability ``p``.

    Models a peer or path that garbles bytes past the transport's integrity check:
    receivers must reject the frame (a malformed frame), never crash or accept it.
    """

    p: float = 0.1
    src: str = ""
    dst: str = ""
    for_ms: float | None = None

    def apply(self, world: ChaosWorld) -> str | None:
        rng = world.rng

        def tamper(s: str, d: str, frame: bytes) -> bytes | None:
            if (self.src and s != self.src) or (self.dst and d != self.dst) or not frame:
                return frame
            if rng.random() >= self.p:
                return frame
            i = rng.randrange(len(frame))
            return frame[:i] + bytes([frame[i] ^ (1 << rng.randrange(8))]) + frame[i + 1:]

        remove = world.add_tamper(tamper)
        if self.for_ms is not None:
            world.after(self.for_ms, remove)
        return None

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        return cls(at_ms=at_ms, p=rng.choice((0.05, 0.3)), src=_pick_node(rng, world),
                   for_ms=_for_ms(rng))


# ============================================================================ clock, disk, device
@fault_kind("clock_skew")
@dataclasses.dataclass(frozen=True)
class ClockSkew(Fault):
    """Jump a node's clock forward by ``skew_ms`` (its monotonic clock never goes back)."""

    node: str = ""
    skew_ms: float = 100.0

    def apply(self, world: ChaosWorld) -> str | None:
        assert 0.0 <= self.skew_ms <= SKEW_MS_MAX, self.skew_ms
        slot_skew_ms = world.sim._slots[self.node].skew_ns / 1e6
        world.sim.set_clock_skew(self.node, slot_skew_ms + self.skew_ms)
        return None

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        return cls(at_ms=at_ms, node=_pick_node(rng, world),
                   skew_ms=float(rng.choice((10, 100, 1000, 10_000))))


@dataclasses.dataclass(frozen=True)
class _DiskFault(Fault):
    flag: ClassVar[str] = ""
    node: str = ""
    for_ms: float | None = None

    def apply(self, world: ChaosWorld) -> str | None:
        disk = world.sim.disk(self.node)
        setattr(disk, self.flag, True)
        if self.for_ms is not None:
            world.after(self.for_ms, lambda: setattr(disk, self.flag, False))
        return None

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        return cls(at_ms=at_ms, node=_pick_node(rng, world), for_ms=_for_ms(rng))


@fault_kind("disk_full")
@dataclasses.dataclass(frozen=True)
class DiskFull(_DiskFault):
    """Writes fail with ENOSPC on a node's disk."""

    flag: ClassVar[str] = "full"


@fault_kind("fsync_fail")
@dataclasses.dataclass(frozen=True)
class FsyncFail(_DiskFault):
    """``sync`` fails with EIO on a node's disk (staged writes stay volatile)."""

    flag: ClassVar[str] = "fsync_fails"


@fault_kind("gpu")
@dataclasses.dataclass(frozen=True)
class Gpu(Fault):
    """Make an accelerator "fail" (code using ``points.accelerated`` falls back to its CPU
    path) or "slow" (``points.device_delay_ms`` says how many virtual ms a call costs)."""

    mode: str = "fail"
    device: str = "gpu"
    slow_ms: float = 100.0
    for_ms: float | None = None

    def apply(self, world: ChaosWorld) -> str | None:
        assert self.mode in ("ok", "slow", "fail"), self.mode
        assert 0.0 <= self.slow_ms <= FOR_MS_MAX, self.slow_ms
        devices = world.points.devices
        devices[self.device] = self.mode
        world.points.slow_ms[self.device] = self.slow_ms
        if self.for_ms is not None:
            world.after(self.for_ms, lambda: devices.__setitem__(self.device, "ok"))
        return None

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        return cls(at_ms=at_ms, mode=rng.choice(("slow", "fail")), for_ms=_for_ms(rng))


# ============================================================================ Byzantine
@fault_kind("byzantine")
@dataclasses.dataclass(frozen=True)
class Byzantine(Fault):
    """Turn on a component's Byzantine behaviour on ``node`` (see ``register_byzantine``)."""

    node: str = ""
    behaviour: str = ""
    params: tuple[tuple[str, Any], ...] = ()
    for_ms: float | None = None

    def apply(self, world: ChaosWorld) -> str | None:
        fn = _BYZANTINE.get(self.behaviour)
        if fn is None:
            raise ValueError(f"unknown Byzantine behaviour {self.behaviour!r}; "
                             f"known: {', '.join(byzantine_behaviours())}")
        undo = fn(world, self.node, dict(self.params))
        if undo is not None and self.for_ms is not None:
            world.after(self.for_ms, undo)
        return None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.params:
            out["params"] = {k: _thaw(v) for k, v in self.params}
        return out

    @classmethod
    def random(cls, rng: random.Random, world: ChaosWorld, at_ms: float) -> Fault:
        prefixes = tuple(f"{c}." for c in world.components())
        names = [b for b in byzantine_behaviours() if b.startswith(prefixes)]
        if not names:
            raise NotImplementedError("no Byzantine behaviour for this world's components")
        # One designated Byzantine node (the last): generated plans stay within f = 1.
        _pick_node(rng, world)
        return cls(at_ms=at_ms, node=world.nodes[-1], behaviour=names[rng.randrange(len(names))])
