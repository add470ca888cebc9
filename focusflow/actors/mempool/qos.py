"""Focus-weighted quality of service for the mempool: batch sort, lanes, load shedding.

Every transaction carries a focus tag (uint32 fixed point: the focus of its neuron or
particles). The mempool (1) sorts each batch by focus with one ``argsort`` over the whole
batch (a batch sort that a GPU kernel can replace: the input is a flat uint32 array),
(2) splits recent arrivals into ``lanes_count`` focus lanes at their quantiles, and
(3) keeps only as many top lanes open as fit ``utilisation_max`` of the header capacity,
so that under load the lowest-focus share is shed first, each with an explicit rejection.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FocusArray = npt.NDArray[np.uint32]


def sort_by_focus(focus: FocusArray) -> npt.NDArray[np.intp]:
    """Indices ordering ``focus`` from highest to lowest, ties by arrival (stable).

    Why argsort on the negated int64 copy: a stable descending order in one vectorised
    call, the same on every validator (no float rounding), swappable for a device sort.
    """
    assert focus.ndim == 1
    order = np.argsort(-focus.astype(np.int64), kind="stable")
    assert len(order) == len(focus)
    return order


@dataclass(frozen=True, slots=True)
class QosConfig:
    """Limits of the QoS controller."""

    capacity_txs_per_round: int = 512
    utilisation_max: float = 0.7
    lanes_count: int = 8
    window_rounds: int = 4
    window_txs_max: int = 65_536


class FocusQos:
    """Adaptive focus cut-off: which arrivals are admitted, which are shed.

    ``cutoff`` is the lower edge of the lowest open lane; arrivals below it are shed.
    After each round ``end_round`` re-cuts the lanes from the focus tags seen over the
    last ``window_rounds`` rounds and opens ceil(lanes * target / demand) of them, with
    ``target = utilisation_max * capacity``: the expected admitted load is at most the
    target, so header utilisation stays at or under ``utilisation_max``.
    """

    def __init__(self, config: QosConfig | None = None) -> None:
        self.config = config or QosConfig()
        assert 0.0 < self.config.utilisation_max <= 1.0
        assert self.config.lanes_count >= 1 and self.config.capacity_txs_per_round >= 1
        self.cutoff = 0
        self.open_lanes = self.config.lanes_count
        self.lane_edges: FocusArray = np.zeros(self.config.lanes_count, dtype=np.uint32)
        self._window: deque[FocusArray] = deque(maxlen=self.config.window_rounds)
        self._current: list[FocusArray] = []
        self._admitted_round = 0

    @property
    def target_txs_per_round(self) -> int:
        """Admitted transactions per round that keep utilisation at ``utilisation_max``."""
        return max(1, int(self.config.utilisation_max * self.config.capacity_txs_per_round))

    def admit(self, focus: FocusArray) -> npt.NDArray[np.bool_]:
        """Mask of arrivals to keep: in an open lane and within this round's target.

        Arrivals are ranked by focus within the call, so when the round budget runs out
        the lowest-focus ones are the ones shed.
        """
        self._current.append(focus.copy())
        keep = focus >= np.uint32(self.cutoff)
        budget = self.target_txs_per_round - self._admitted_round
        if int(keep.sum()) > budget:
            order = sort_by_focus(focus)
            ranked = order[keep[order]]
            keep = np.zeros(len(focus), dtype=bool)
            keep[ranked[: max(0, budget)]] = True
        self._admitted_round += int(keep.sum())
        assert self._admitted_round <= self.target_txs_per_round
        return keep

    def end_round(self) -> None:
        """Re-cut the lanes from recent arrivals and open as many as the target allows."""
        arrived = np.concatenate(self._current) if self._current else np.zeros(0, np.uint32)
        self._current = []
        self._admitted_round = 0
        self._window.append(arrived[-self.config.window_txs_max :])
        recent = np.concatenate(list(self._window))
        lanes = self.config.lanes_count
        if len(recent) == 0:
            self.open_lanes, self.cutoff = lanes, 0
            return
        demand_per_round = len(recent) / len(self._window)
        share = min(1.0, self.target_txs_per_round / demand_per_round)
        self.open_lanes = max(1, min(lanes, math.floor(lanes * share)))
        qs = np.arange(lanes, dtype=np.float64) / lanes
        self.lane_edges = np.quantile(recent, qs, method="lower").astype(np.uint32)
        self.cutoff = int(self.lane_edges[lanes - self.open_lanes]) if self.open_lanes < lanes else 0
        assert 1 <= self.open_lanes <= lanes
