"""Measurement hooks for the simulator (latency, throughput, delivered claims).

Not protocol: the scenario hands one ``RollupProbe`` to the actor shells it builds in the
same process, and the shells report what happened; production shells get None.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RollupProbe"]


@dataclass
class RollupProbe:
    """What the rollups scenario measures."""

    #: (bucket, period) -> [(arrival_ns, links)] of the links the claim covers
    arrivals: dict[tuple[bytes, int], list[tuple[int, int]]] = field(default_factory=dict)
    #: latency samples (ms) with weights (links), recorded when the top hub commits
    latency_ms: list[float] = field(default_factory=list)
    latency_links: list[int] = field(default_factory=list)
    #: (hub, bucket, period) delivered to a hub core, with how many times
    delivered: dict[tuple[str, bytes, int], int] = field(default_factory=dict)
    claims_sent: dict[bytes, int] = field(default_factory=dict)
    slashed: list[bytes] = field(default_factory=list)
    links_ordered: int = 0
    first_link_ns: int | None = None
    last_link_ns: int = 0
    hub_restarts: int = 0

    def claim_sent(self, bucket: bytes, period: int,
                   arrivals: list[tuple[int, int]]) -> None:
        """A sequencer emitted a claim covering links that arrived at these times."""
        self.arrivals[(bucket, period)] = arrivals
        self.claims_sent[bucket] = max(self.claims_sent.get(bucket, 0), period)

    def committed(self, merged: tuple[tuple[bytes, int], ...], now_ns: int) -> None:
        """The top hub committed a snapshot including these claims."""
        for key in merged:
            for t, n in self.arrivals.get(key, ()):
                self.latency_ms.append((now_ns - t) / 1e6)
                self.latency_links.append(n)

    def percentile_ms(self, q: float) -> float:
        """Link-weighted latency percentile (NaN without samples)."""
        if not self.latency_ms:
            return float("nan")
        order = np.argsort(self.latency_ms)
        lat = np.asarray(self.latency_ms)[order]
        w = np.cumsum(np.asarray(self.latency_links)[order])
        return float(lat[np.searchsorted(w, q / 100.0 * w[-1])])
