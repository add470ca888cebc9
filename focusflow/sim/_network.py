"""The simulated network between simulated nodes: the API a chaos harness drives.

Per directed link: latency and jitter, loss, duplication and reordering probabilities;
partitions between groups of nodes and healing. Links are FIFO (like TCP) unless a
reorder draw lets a message overtake. Every random draw comes from the simulation's
seeded RNG, so a fault schedule is reproducible from the seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from focusflow.sim._sim import Simulation

LATENCY_MS_MAX = 3_600_000.0


@dataclasses.dataclass(frozen=True, slots=True)
class LinkConfig:
    """Behaviour of one directed link (src → dst)."""

    latency_ms: float = 1.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0

    def __post_init__(self) -> None:
        assert 0 <= self.latency_ms <= LATENCY_MS_MAX, self.latency_ms
        assert 0 <= self.jitter_ms <= LATENCY_MS_MAX, self.jitter_ms
        for p in (self.loss, self.duplicate, self.reorder):
            assert 0.0 <= p <= 1.0, p


class SimNetwork:
    """Carries frames between simulated nodes with configurable faults."""

    def __init__(self, sim: Simulation, default: LinkConfig | None = None) -> None:
        self._sim = sim
        self.default = default or LinkConfig()
        self._links: dict[tuple[str, str], LinkConfig] = {}
        self._group_of: dict[str, int] = {}
        self._everywhere: frozenset[str] = frozenset()
        self._last_arrival_ns: dict[tuple[str, str], int] = {}
        self.stats = {"sent": 0, "delivered": 0, "lost": 0, "partitioned": 0,
                      "duplicated": 0, "reordered": 0, "to_dead_node": 0}
        #: Chaos hook (focusflow.chaos): ``tamper(src, dst, frame)`` returns the frame to
        #: carry (changed, e.g. corrupted) or None to drop it; None disables the hook.
        self.tamper: Callable[[str, str, bytes], bytes | None] | None = None

    # -- configuration (the chaos API) ------------------------------------------------
    def link(self, src: str, dst: str) -> LinkConfig:
        """The configuration of the directed link src → dst."""
        return self._links.get((src, dst), self.default)

    def set_link(self, src: str, dst: str, *, symmetric: bool = True, **changes: float) -> None:
        """Change latency_ms / jitter_ms / loss / duplicate / reorder of a link."""
        self._links[(src, dst)] = dataclasses.replace(self.link(src, dst), **changes)
        if symmetric:
            self._links[(dst, src)] = dataclasses.replace(self.link(dst, src), **changes)

    def set_default(self, **changes: float) -> None:
        """Change the configuration of every link without an override."""
        self.default = dataclasses.replace(self.default, **changes)

    def partition(self, *groups: Iterable[str], everywhere: Iterable[str] = ()) -> None:
        """Split the network: nodes in different groups cannot reach each other.

        Nodes named in no group form one more group together. Nodes in ``everywhere``
        reach (and are reached from) every group: clients outside a cut between
        validators, which still talk to the validator they use on either side.
        """
        lists = [list(group) for group in groups]
        self._group_of = {}
        for i, group in enumerate(lists, start=1):
            for node in group:
                assert node not in self._group_of, f"{node} is in two groups"
                self._group_of[node] = i
        self._everywhere = frozenset(everywhere)
        assert not self._everywhere & self._group_of.keys(), "a node both in a group and everywhere"
        record = repr([sorted(g) for g in lists])
        if self._everywhere:  # (the record of a plain partition stays what it was)
            record += "+" + repr(sorted(self._everywhere))
        self._sim._record_global(b"P" + record.encode())
        self._sim._partition_changed()

    def isolate(self, node: str) -> None:
        """Cut one node off from all others."""
        self.partition([node])

    def heal(self) -> None:
        """Remove every partition (link configurations stay)."""
        self._group_of = {}
        self._everywhere = frozenset()
        self._sim._record_global(b"H")

    def reachable(self, src: str, dst: str) -> bool:
        """Whether a partition currently separates src from dst."""
        if src in self._everywhere or dst in self._everywhere:
            return True
        return self._group_of.get(src, 0) == self._group_of.get(dst, 0)

    # -- carrying frames ----------------------------------------------------------------
    def send(self, src: str, dst: str, frame: bytes) -> None:
        """Called by a node's runtime for every remote envelope."""
        self.stats["sent"] += 1
        sim = self._sim
        if not self.reachable(src, dst):
            self.stats["partitioned"] += 1
            sim._record_global(b"Np" + src.encode() + b">" + dst.encode())
            return
        if self.tamper is not None:
            tampered = self.tamper(src, dst, frame)
            if tampered is None:
                return
            frame = tampered
        cfg = self.link(src, dst)
        rng = sim._net_rng
        if cfg.loss and rng.random() < cfg.loss:
            self.stats["lost"] += 1
            sim._record_global(b"Nl" + src.encode() + b">" + dst.encode())
            return
        copies = 2 if cfg.duplicate and rng.random() < cfg.duplicate else 1
        if copies == 2:
            self.stats["duplicated"] += 1
        for _ in range(copies):
            self._schedule(src, dst, frame, cfg)

    def _schedule(self, src: str, dst: str, frame: bytes, cfg: LinkConfig) -> None:
        sim = self._sim
        rng = sim._net_rng
        delay_ms = cfg.latency_ms
        if cfg.jitter_ms:
            delay_ms += rng.uniform(-cfg.jitter_ms, cfg.jitter_ms)
        arrival = sim.now_ns() + max(0, int(delay_ms * 1_000_000))
        key = (src, dst)
        if cfg.reorder and rng.random() < cfg.reorder:
            self.stats["reordered"] += 1  # may overtake: FIFO not enforced for this one
        else:
            arrival = max(arrival, self._last_arrival_ns.get(key, 0))
            self._last_arrival_ns[key] = arrival
        sim._at(arrival, lambda: self._arrive(src, dst, frame))

    def _arrive(self, src: str, dst: str, frame: bytes) -> None:
        sim = self._sim
        node = sim._alive_node(dst)
        if node is None or not self.reachable(src, dst):
            self.stats["to_dead_node" if node is None else "partitioned"] += 1
            return
        self.stats["delivered"] += 1
        node.receive_frame(frame)
