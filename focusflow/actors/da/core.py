"""The DA sampler as a sans-IO state machine: headers and samples in, requests and verdicts out.

One core runs per validator and per light node. For every block header (height, data root,
square width) it draws ``samples`` distinct cells from a runtime-supplied seed, asks the
network for them, verifies each answer against the data root, and emits exactly one
:class:`Verdict` per height: *available* once every sample verified, *unavailable* when a
cell was refused or timed out ``retries_max + 1`` times, or when a valid bad-encoding fraud
proof arrives (which overrides an earlier "available": the data was there but is garbage).

No clock, randomness or I/O here: the shell passes ``now_ns`` and the seed, and carries out
the effects (:class:`RequestSample`, :class:`SetTimer`, :class:`Verdict`). Invalid answers
are the peer's fault and come back as :class:`Misbehaviour` evidence; a violated assertion
is ours, and the core stays failed.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from focusflow.actors.da.nmt import HashName
from focusflow.actors.da.reconstruct import BadEncodingFraudProof, verify_befp
from focusflow.actors.da.sampling import choose_samples, samples_max
from focusflow.actors.da.square import Sample, verify_sample

__all__ = [
    "DaSamplerCore",
    "Effect",
    "Misbehaviour",
    "RequestSample",
    "SamplerConfig",
    "SetTimer",
    "Verdict",
]


@dataclass(frozen=True, slots=True)
class RequestSample:
    """Ask the network for cell (row, col) of the square at ``height`` (``attempt`` from 0)."""

    height: int
    row: int
    col: int
    attempt: int


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Call :meth:`DaSamplerCore.tick` at ``at_ns`` (virtual or real, the shell's clock)."""

    at_ns: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """The sampler's decision for one block; ``reason`` says why it is unavailable."""

    height: int
    data_root: bytes
    available: bool
    samples_verified: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Misbehaviour:
    """A peer answered with something that does not verify (evidence for peer scoring)."""

    height: int
    row: int
    col: int
    reason: str


Effect = RequestSample | SetTimer | Verdict | Misbehaviour


@dataclass(frozen=True, slots=True)
class SamplerConfig:
    """Limits and parameters; defaults give >= 99% detection for k <= 128 (docs/da.md)."""

    samples: int = 16
    timeout_ms: int = 2_000
    retries_max: int = 2
    pending_heights_max: int = 64
    verdicts_kept_max: int = 1_024
    hash_name: HashName = "blake3"

    def __post_init__(self) -> None:
        assert 1 <= self.samples <= samples_max, self.samples
        assert self.timeout_ms > 0 and self.retries_max >= 0
        assert self.pending_heights_max >= 1 and self.verdicts_kept_max >= 1


@dataclass(slots=True)
class _Pending:
    data_root: bytes
    width: int
    deadline_ns: int
    waiting: dict[tuple[int, int], int] = field(default_factory=dict)  # cell -> attempt
    verified: set[tuple[int, int]] = field(default_factory=set)


class DaSamplerCore:
    """Sans-IO sampler: see the module docstring. Methods return effects for the shell."""

    def __init__(self, config: SamplerConfig | None = None) -> None:
        self.config = config or SamplerConfig()
        self._pending: dict[int, _Pending] = {}
        self._verdicts: OrderedDict[int, Verdict] = OrderedDict()
        self._roots: dict[int, tuple[bytes, int]] = {}
        self.rejected_overload = 0

    def on_header(
        self, height: int, data_root: bytes, width: int, seed: bytes, now_ns: int
    ) -> list[Effect]:
        """Start sampling a block. Duplicate heights are ignored; overload is rejected explicitly."""
        if height in self._pending or height in self._verdicts:
            return []
        if not 2 <= width <= 256 or width & (width - 1) or len(data_root) != 32:
            return [self._decide(height, data_root, 0, "malformed header")]
        if len(self._pending) >= self.config.pending_heights_max:
            self.rejected_overload += 1
            return [self._decide(height, data_root, 0, "sampler overloaded")]
        count = min(self.config.samples, width * width)
        cells = choose_samples(seed, width, count)
        deadline = now_ns + self.config.timeout_ms * 1_000_000
        self._pending[height] = _Pending(data_root, width, deadline, {cell: 0 for cell in cells})
        self._roots[height] = (data_root, width)
        effects: list[Effect] = [RequestSample(height, r, c, 0) for r, c in cells]
        effects.append(SetTimer(deadline))
        return effects

    def on_sample(
        self, height: int, row: int, col: int, sample: Sample | None, now_ns: int
    ) -> list[Effect]:
        """An answer for a cell: a sample to verify, or ``None`` when the peer has no such share."""
        pending = self._pending.get(height)
        if pending is None or (row, col) not in pending.waiting:
            return []  # late, duplicate or unsolicited: ignore
        if sample is None:
            return self._retry_or_fail(height, pending, (row, col), now_ns, "share refused")
        ok = (sample.row, sample.col) == (row, col) and verify_sample(
            sample,
            data_root=pending.data_root,
            width=pending.width,
            hash_name=self.config.hash_name,
        )
        if not ok:
            evidence = Misbehaviour(
                height, row, col, "sample does not verify against the data root"
            )
            return [
                evidence,
                *self._retry_or_fail(height, pending, (row, col), now_ns, "invalid sample"),
            ]
        del pending.waiting[(row, col)]
        pending.verified.add((row, col))
        if pending.waiting:
            return []
        del self._pending[height]
        return [self._decide(height, pending.data_root, len(pending.verified), "")]

    def on_fraud_proof(self, height: int, proof: BadEncodingFraudProof) -> list[Effect]:
        """A bad-encoding fraud proof: if valid, the block is unavailable whatever sampling said."""
        known = self._roots.get(height)
        if known is None:
            return []
        root, width = known
        if not verify_befp(proof, data_root=root, hash_name=self.config.hash_name, width=width):
            return []
        previous = self._verdicts.get(height)
        if previous is not None and not previous.available:
            return []
        self._pending.pop(height, None)
        verified = previous.samples_verified if previous else 0
        return [
            self._decide(
                height, root, verified, f"bad encoding of {proof.axis} {proof.index}", force=True
            )
        ]

    def tick(self, now_ns: int) -> list[Effect]:
        """Retry every cell whose deadline passed; give up on cells out of retries."""
        effects: list[Effect] = []
        for height in sorted(self._pending):
            pending = self._pending[height]
            if now_ns < pending.deadline_ns:
                continue
            for cell in sorted(pending.waiting):
                if height not in self._pending:
                    break
                effects.extend(
                    self._retry_or_fail(height, pending, cell, now_ns, "sample timed out")
                )
        # Always say when to tick next: a deadline may have moved since the timer was armed
        # (a refusal's retry pushes it), and the shell keeps only one timer.
        next_ns = self.next_deadline_ns()
        if next_ns is not None:
            effects.append(SetTimer(next_ns))
        return effects

    def next_deadline_ns(self) -> int | None:
        """Earliest deadline among heights still being sampled (None when idle)."""
        return min((p.deadline_ns for p in self._pending.values()), default=None)

    def _retry_or_fail(
        self, height: int, pending: _Pending, cell: tuple[int, int], now_ns: int, reason: str
    ) -> list[Effect]:
        attempt = pending.waiting[cell] + 1
        if attempt > self.config.retries_max:
            del self._pending[height]
            return [
                self._decide(height, pending.data_root, len(pending.verified), f"{reason}: {cell}")
            ]
        pending.waiting[cell] = attempt
        pending.deadline_ns = now_ns + self.config.timeout_ms * 1_000_000
        return [RequestSample(height, cell[0], cell[1], attempt), SetTimer(pending.deadline_ns)]

    def _decide(
        self, height: int, root: bytes, verified: int, reason: str, *, force: bool = False
    ) -> Verdict:
        assert force or height not in self._verdicts, "one verdict per height"
        verdict = Verdict(height, root, not reason, verified, reason)
        self._verdicts[height] = verdict
        self._verdicts.move_to_end(height)
        while len(self._verdicts) > self.config.verdicts_kept_max:
            old, _ = self._verdicts.popitem(last=False)
            self._roots.pop(old, None)
        self.invariants()
        return verdict

    def verdict(self, height: int) -> Verdict | None:
        """The decision for ``height`` if one was made (and is still kept)."""
        return self._verdicts.get(height)

    def pending_heights(self) -> list[int]:
        """Heights still being sampled."""
        return sorted(self._pending)

    def statistics(self) -> dict[str, int]:
        """Counters for monitoring."""
        decided = list(self._verdicts.values())
        return {
            "pending": len(self._pending),
            "available": sum(v.available for v in decided),
            "unavailable": sum(not v.available for v in decided),
            "rejected_overload": self.rejected_overload,
        }

    def invariants(self) -> None:
        """Checked by the simulator after every step."""
        assert len(self._pending) <= self.config.pending_heights_max
        assert len(self._verdicts) <= self.config.verdicts_kept_max
        assert not set(self._pending) & set(self._verdicts), (
            "a height is pending or decided, not both"
        )
        for pending in self._pending.values():
            assert pending.waiting, "a pending height still waits for some cell"
            assert not set(pending.waiting) & pending.verified
            assert all(0 <= a <= self.config.retries_max for a in pending.waiting.values())
