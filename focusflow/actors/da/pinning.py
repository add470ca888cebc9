"""Pinning policy and the share store: which shares a node keeps, for how long, and serving them.

Every block is kept whole (the full extended square, so any sample can be served) for
``prune_window_epochs`` epochs. After that it is *archived*: everything is dropped except
the original shares of ``/graph`` namespaces, which stay pinned until ``graph_pin_epochs``
after the block's epoch, each with the proofs it needs (the sample proof to the data root
and, per namespace, the per-row namespace proofs). Proofs are fixed once the block is
committed, so archiving them costs a few hundred bytes per share and lets an archive serve
exactly what a full node would: a pinned share is still served with a proof anyone checks
against the header's data root. Parity shares and other namespaces are gone after the
window: sampling is for fresh blocks; old data is fetched by namespace.

Sans-IO: the store is in memory and takes ``now_epoch`` from its caller; persisting it is
the shell's job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from focusflow.actors.da.share import NAMESPACE_SIZE, is_graph_namespace
from focusflow.actors.da.square import (
    DataAvailabilityHeader,
    ExtendedDataSquare,
    NamespaceRowProof,
    Sample,
)

__all__ = ["PinningPolicy", "PruneReport", "ShareStore"]


@dataclass(frozen=True, slots=True)
class PinningPolicy:
    """How long to keep what. ``is_pinned`` decides which namespaces are ``/graph`` data."""

    graph_pin_epochs: int = 64
    prune_window_epochs: int = 2
    is_pinned: Callable[[bytes], bool] = is_graph_namespace

    def __post_init__(self) -> None:
        if self.prune_window_epochs < 0 or self.graph_pin_epochs < self.prune_window_epochs:
            raise ValueError("need 0 <= prune_window_epochs <= graph_pin_epochs")

    def full_until(self, epoch: int) -> int:
        """Last epoch in which a block from ``epoch`` is kept whole."""
        return epoch + self.prune_window_epochs

    def pinned_until(self, epoch: int) -> int:
        """Last epoch in which pinned shares of a block from ``epoch`` are kept."""
        return epoch + self.graph_pin_epochs


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What one :meth:`ShareStore.prune` call did."""

    archived: tuple[int, ...]
    dropped: tuple[int, ...]


@dataclass(slots=True)
class _Archive:
    data_root: bytes
    epoch: int
    dah: DataAvailabilityHeader
    samples: dict[tuple[int, int], Sample] = field(default_factory=dict)
    namespaces: dict[bytes, list[NamespaceRowProof]] = field(default_factory=dict)


class ShareStore:
    """Blocks by height: whole while fresh, pinned namespaces with proofs when archived."""

    def __init__(
        self,
        policy: PinningPolicy | None = None,
        *,
        full_blocks_max: int = 64,
        archived_blocks_max: int = 100_000,
    ) -> None:
        self.policy = policy or PinningPolicy()
        # A full 128-wide square is 32 MiB: whole blocks are few; archives are small.
        assert full_blocks_max >= 1 and archived_blocks_max >= 1
        self.full_blocks_max = full_blocks_max
        self.archived_blocks_max = archived_blocks_max
        self._full: dict[int, tuple[int, ExtendedDataSquare]] = {}
        self._archive: dict[int, _Archive] = {}

    def add_block(self, height: int, epoch: int, eds: ExtendedDataSquare) -> None:
        """Keep a new block whole. Raises ValueError on a duplicate height or when full."""
        if height in self._full or height in self._archive:
            raise ValueError(f"block {height} already stored")
        if len(self._full) >= self.full_blocks_max:
            raise ValueError(f"share store holds {self.full_blocks_max} whole blocks; prune first")
        self._full[height] = (epoch, eds)

    def prune(self, now_epoch: int) -> PruneReport:
        """Archive blocks past the window and drop archives past their pin."""
        archived = []
        for height in sorted(self._full):
            epoch, eds = self._full[height]
            if now_epoch > self.policy.full_until(epoch):
                del self._full[height]
                self._archive[height] = self._make_archive(epoch, eds)
                archived.append(height)
        dropped = []
        while len(self._archive) > self.archived_blocks_max:  # over budget: oldest go first
            oldest = min(self._archive)
            del self._archive[oldest]
            dropped.append(oldest)
        for height in sorted(self._archive):
            archive = self._archive[height]
            if now_epoch > self.policy.pinned_until(archive.epoch) or not archive.samples:
                del self._archive[height]
                dropped.append(height)
        return PruneReport(tuple(archived), tuple(dropped))

    def _make_archive(self, epoch: int, eds: ExtendedDataSquare) -> _Archive:
        archive = _Archive(eds.data_root(), epoch, eds.dah())
        for r in range(eds.k):
            for c in range(eds.k):
                ns = eds.shares[r, c, :NAMESPACE_SIZE].tobytes()
                if self.policy.is_pinned(ns):
                    archive.samples[(r, c)] = eds.sample(r, c)
                    if ns not in archive.namespaces:
                        archive.namespaces[ns] = eds.prove_namespace(ns)
        return archive

    def sample(self, height: int, row: int, col: int) -> Sample | None:
        """The share at (row, col) with its proofs, or None if not kept."""
        if height in self._full:
            eds = self._full[height][1]
            if 0 <= row < eds.width and 0 <= col < eds.width:
                return eds.sample(row, col)
            return None
        archive = self._archive.get(height)
        return archive.samples.get((row, col)) if archive else None

    def namespace(self, height: int, namespace: bytes) -> list[NamespaceRowProof] | None:
        """All shares of ``namespace`` with proofs, or None if this node no longer has them."""
        if len(namespace) != NAMESPACE_SIZE:
            return None  # a malformed query from a peer: nothing to serve
        if height in self._full:
            return self._full[height][1].prove_namespace(namespace)
        archive = self._archive.get(height)
        if archive is None or not self.policy.is_pinned(namespace):
            return None
        if namespace in archive.namespaces:
            return archive.namespaces[namespace]
        return None

    def dah(self, height: int) -> DataAvailabilityHeader | None:
        """The block's row and column roots (kept as long as anything of the block is)."""
        if height in self._full:
            return self._full[height][1].dah()
        archive = self._archive.get(height)
        return archive.dah if archive else None

    def statistics(self) -> dict[str, int]:
        """Counters for monitoring."""
        return {
            "blocks_full": len(self._full),
            "blocks_archived": len(self._archive),
            "shares_pinned": sum(len(a.samples) for a in self._archive.values()),
        }
