"""A simulated disk: the storage hook of simulated nodes.

Writes are visible at once but durable only after ``sync``; a node crash drops the
unsynced ones (or, with ``torn_writes``, keeps a seeded-random prefix of them, like a
disk that flushed part of its cache).
"""

from __future__ import annotations

import errno
import random

from focusflow.supervisor._future import Future

KEYS_MAX = 1_000_000
_DELETED = None


class SimDisk:
    """Key → bytes with explicit durability (implements ``Storage``)."""

    def __init__(self, *, torn_writes: bool = False) -> None:
        self._durable: dict[str, bytes] = {}
        self._unsynced: list[tuple[str, bytes | None]] = []
        self.torn_writes = torn_writes
        self.syncs = 0
        #: Chaos switches (focusflow.chaos): writes fail with ENOSPC while ``full``;
        #: ``sync`` fails with EIO while ``fsync_fails`` (the staged writes stay
        #: unsynced, so a crash loses them, as after a real failed fsync).
        self.full = False
        self.fsync_fails = False

    def _view(self) -> dict[str, bytes]:
        view = dict(self._durable)
        for key, data in self._unsynced:
            if data is _DELETED:
                view.pop(key, None)
            else:
                view[key] = data
        return view

    def read(self, key: str) -> Future[bytes | None]:
        """The visible bytes under ``key`` (unsynced writes included)."""
        for k, data in reversed(self._unsynced):
            if k == key:
                return Future.completed(data)
        return Future.completed(self._durable.get(key))

    def write(self, key: str, data: bytes) -> Future[None]:
        """Stage a write (lost on crash until ``sync``)."""
        assert isinstance(data, bytes | bytearray | memoryview)
        if self.full:
            raise OSError(errno.ENOSPC, "simulated disk full (chaos)")
        if len(self._durable) + len(self._unsynced) >= KEYS_MAX:
            raise OSError(f"simulated disk full ({KEYS_MAX} keys)")
        self._unsynced.append((key, bytes(data)))
        return Future.completed(None)

    def delete(self, key: str) -> Future[None]:
        """Stage a delete."""
        self._unsynced.append((key, _DELETED))
        return Future.completed(None)

    def sync(self) -> Future[None]:
        """Make staged writes durable (a failed future with EIO under ``fsync_fails``)."""
        if self.fsync_fails:
            failed: Future[None] = Future()
            failed.set_exception(OSError(errno.EIO, "simulated fsync failure (chaos)"))
            return failed
        self._durable = self._view()
        self._unsynced.clear()
        self.syncs += 1
        return Future.completed(None)

    def keys(self, prefix: str = "") -> list[str]:
        """Visible keys with ``prefix``, sorted (deterministic)."""
        return sorted(k for k in self._view() if k.startswith(prefix))

    def crash(self, rng: random.Random) -> int:
        """Lose unsynced writes (a prefix survives with ``torn_writes``); return how many."""
        keep = rng.randrange(len(self._unsynced) + 1) if self.torn_writes and self._unsynced else 0
        survived = self._unsynced[:keep]
        lost = len(self._unsynced) - keep
        self._unsynced = survived
        self._durable = self._view()
        self._unsynced = []
        return lost
