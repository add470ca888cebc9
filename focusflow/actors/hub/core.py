"""The supply-rank hub as a sans-IO core: challenge windows, fraud, merge, fees.

Inputs: ``claim`` (a ``SupplyRank`` that arrived over an IBC channel), ``fraud`` (a
fraud proof), ``adjudicated`` (the verdict of re-executing a disputed claim), ``tick``.
Outputs: frozen effects (:class:`Notify`, :class:`Rejected`, :class:`Adjudicate`,
:class:`Committed`, :class:`Forward`, :class:`Slashed`). No clock, no I/O.

**A window runs only while the claim's data is available.** A challenger can prove
fraud only from the claim's batches on the DA grid, so a window that ran out while the
grid could not serve them would let a lie through with nobody able to object (an L1
halt stops an optimistic rollup's clock for the same reason). So a pending claim does
not wait until a wall-clock deadline: it collects *available time*. The shell probes the
grid (``probe_roots``) and reports each answer (``observed``: the roots the grid holds,
and when the probe was sent); a claim whose roots were all held is credited the time
since its data was last seen, if that gap is at most ``probe_gap_max_ms`` — a longer
gap means the grid (or the way to it) was down, and that time does not count. A claim
is accepted once it has a whole window of credit (and no dispute). Bounded: a claim
whose data has not been seen for ``unavailable_max_ms`` is refused and its bucket
frozen, without slashing (withholding cannot be attributed: the grid may have failed,
not the sequencer; slashing would let any grid outage burn honest bonds).

**Merging.** A bucket's claim carries its *own* π (teleport over its own particles) and
its weight mass w_b = n_b / c_b (c_b = 1 − d + d·its dangling mass). With the global
teleport uniform over all particles and dangling mass sent to teleport, the global π of
the disjoint union of the buckets' graphs is exactly ``α_b · π_b`` on bucket b with
``α_b = w_b / Σ w`` (write π = c·(I − dPᵀ)⁻¹v per component: only the scalar c couples
them). So the hub merges the accepted buckets every ``merge_ms`` in O(Σ n_b) vector work
and never needs a graph; the scenario's ``global_pi_consistent`` checks the merge against
a from-scratch solve over all buckets' links. A particle linked in two buckets is two
vertices (bucket, particle): buckets are semantic namespaces.

**Layers.** A regional hub runs the challenge window and forwards each claim it accepts
(``Forward``); a global hub takes forwarded claims with window 0 (the region already
judged them) and merges the regions' buckets. Fees are redistributed where
``redistribute`` is set (the top hub): at every merge, the pool of accepted fees is
split over the buckets by demand (links ordered in the claims merged since the last
merge), integer shares, the remainder stays in the pool.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import blake3
import numpy as np

from focusflow.actors.rollup.claims import ClaimVerifier, apply_delta
from focusflow.actors.rollup.messages import EMPTY_ROOT, FraudProof, SupplyRank
from focusflow.kernels import merkle_root, quantize
from focusflow.kernels._commit import dequantize

__all__ = [
    "Adjudicate",
    "Committed",
    "Forward",
    "HubCore",
    "Notify",
    "Rejected",
    "Slashed",
]

_ROOT_CONTEXT = "focusflow 2026 hub global root v1"
buckets_max = 1 << 16
pending_per_bucket_max = 256
BOND_MIN_DEFAULT = 1_000
#: the longest gap between two sightings of a claim's data that still counts as
#: available time (the shell probes every 100 ms: two lost probes in a row pause it)
PROBE_GAP_MAX_MS_DEFAULT = 250.0
#: a claim whose data is not seen for this long is refused (its bucket frozen)
UNAVAILABLE_MAX_MS_DEFAULT = 30_000.0
#: data roots one probe carries (claims past it are not probed: their clocks pause)
probe_roots_max = 4096


@dataclass(frozen=True, slots=True)
class Notify:
    """A claim entered its challenge window (tell the watchers)."""

    claim: SupplyRank
    deadline_ns: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """A claim or fraud proof was refused (the sender's fault), with the reason."""

    bucket: bytes
    period: int
    reason: str


@dataclass(frozen=True, slots=True)
class Adjudicate:
    """Re-execute this disputed claim (with the bucket's accepted history before it)."""

    claim: SupplyRank
    history: tuple[SupplyRank, ...]
    challenger: str


@dataclass(frozen=True, slots=True)
class Slashed:
    """A sequencer was slashed for a proven fraud."""

    sequencer: bytes
    amount: int
    bucket: bytes
    period: int
    challenger: str


@dataclass(frozen=True, slots=True)
class Committed:
    """A new global snapshot: height, root, and the (bucket, period) pairs merged in."""

    height: int
    root: bytes
    merged: tuple[tuple[bytes, int], ...]
    now_ns: int


@dataclass(frozen=True, slots=True)
class Forward:
    """Send an accepted claim to the hub above (regional hubs)."""

    claim: SupplyRank


Effect = Notify | Rejected | Adjudicate | Slashed | Committed | Forward


@dataclass
class _Bucket:
    q: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    root: bytes = EMPTY_ROOT
    period: int = 0
    weight_mass: float = 0.0
    history: list[SupplyRank] = field(default_factory=list)


@dataclass
class _Pending:
    claim: SupplyRank
    q: np.ndarray
    deadline_ns: int  # the earliest acceptance (what watchers are told)
    window_ns: int = 0  # DA-available time it must wait (0: accepted at once)
    seen_ns: int = 0  # when its data was last seen retrievable (a probe's send time)
    credit_ns: int = 0  # DA-available time counted so far, at most window_ns
    disputed_by: str = ""  # a fraud proof named it: it waits for the verdict


class HubCore:
    """One hub (regional or global)."""

    def __init__(self, name: str, *, verifier: ClaimVerifier, merge_ms: float = 1_000.0,
                 bonds: dict[bytes, int] | None = None, redistribute: bool = True,
                 forward: bool = False, bond_min: int = BOND_MIN_DEFAULT,
                 damping: float = 0.85,
                 probe_gap_max_ms: float = PROBE_GAP_MAX_MS_DEFAULT,
                 unavailable_max_ms: float = UNAVAILABLE_MAX_MS_DEFAULT) -> None:
        assert merge_ms > 0 and 0 < damping < 1
        assert 0 < probe_gap_max_ms < unavailable_max_ms
        self.probe_gap_max_ns = int(probe_gap_max_ms * 1e6)
        self.unavailable_max_ns = int(unavailable_max_ms * 1e6)
        self.refused_unavailable = 0  # claims refused for data unseen past the cap
        self.name, self.verifier, self.merge_ms = name, verifier, merge_ms
        self.bonds = dict(bonds or {})
        self.redistribute, self.forward, self.bond_min = redistribute, forward, bond_min
        self.damping = damping
        self.accepted: dict[bytes, _Bucket] = {}
        self.pending: dict[bytes, list[_Pending]] = {}
        self.frozen: set[bytes] = set()
        self.retired: set[bytes] = set()
        self.slashed: dict[bytes, int] = {}
        self.rewards: dict[str, int] = {}
        self.false_alarms = 0
        self.pool = 0
        self.fees_in = 0
        self.credits: dict[bytes, int] = {}
        self.demand: dict[bytes, int] = {}
        self.height = 0
        self.root = EMPTY_ROOT
        self.global_q = np.zeros(0, dtype=np.uint64)
        self.order: tuple[bytes, ...] = ()
        self.snapshot: dict[bytes, int] = {}  # bucket -> period merged into global_q
        self.next_merge_ns: int | None = None
        self._merged_since: list[tuple[bytes, int]] = []

    # ------------------------------------------------------------------ claims

    def _tail(self, bucket: bytes) -> tuple[int, bytes, np.ndarray]:
        queue = self.pending.get(bucket)
        if queue:
            last = queue[-1]
            return last.claim.period, last.claim.root, last.q
        acc = self.accepted.get(bucket, _Bucket())
        return acc.period, acc.root, acc.q

    def claim(self, claim: SupplyRank, now_ns: int, *, window: bool = True) -> list[Effect]:
        """A claim arrived (its channel already authenticated the sender's chain).

        ``window=False`` (claims forwarded by a regional hub) accepts at once.
        """
        b = claim.bucket
        reason = self.verifier.on_receipt(claim)
        period, root, prev = self._tail(b)
        if reason is None:
            if b in self.frozen or b in self.retired:
                reason = "bucket frozen or retired"
            elif self.bonds.get(claim.sequencer, 0) < self.bond_min and window:
                reason = "sequencer not bonded"
            elif claim.period != period + 1 or claim.parent != root:
                reason = f"claim {claim.period} does not extend {period}"
            elif len(self.pending.get(b, ())) >= pending_per_bucket_max:
                reason = "pending_per_bucket_max reached"
            elif b not in self.accepted and len(self.accepted) >= buckets_max:
                reason = "buckets_max reached"
        q = prev
        if reason is None:
            try:
                q = apply_delta(prev, claim)
            except ValueError as e:
                reason = str(e)
            else:
                if merkle_root(q) != claim.root:
                    reason = "delta does not give the claimed root"
        if reason is not None:
            return [Rejected(b, claim.period, reason)]
        window_ns = int(self.verifier.challenge_window_ms * 1e6) if window else 0
        # the sequencer claims only after the grid answered its publishes: the data
        # counts as seen at receipt, and the first probe credits from here
        entry = _Pending(claim, q, now_ns + window_ns, window_ns=window_ns, seen_ns=now_ns)
        self.pending.setdefault(b, []).append(entry)
        effects: list[Effect] = [Notify(claim, entry.deadline_ns)] if window_ns else []
        return effects + self._accept_due(now_ns)

    def fraud(self, proof: FraudProof) -> list[Effect]:
        """A fraud proof: dispute the named claim if it is still in its window."""
        for entry in self.pending.get(proof.bucket, ()):
            c = entry.claim
            if c.period == proof.period and c.root == proof.root:
                history = tuple(self.accepted.get(proof.bucket, _Bucket()).history)
                earlier = tuple(e.claim for e in self.pending[proof.bucket]
                                if e.claim.period < c.period)
                return [Adjudicate(c, history + earlier, proof.challenger)]
        return [Rejected(proof.bucket, proof.period, "no such claim in its window")]

    def dispute(self, proof: FraudProof) -> bool:
        """A fraud proof names a claim in its window: it is not accepted, even past its
        deadline, until ``adjudicated`` (True when this newly disputes it).

        Why: the judge re-executes from the DA grid; while the grid cannot answer, a
        claim that simply ran out its window would be accepted with a proof against it.
        A false alarm only delays the claim until the judge can read the data.
        """
        for entry in self.pending.get(proof.bucket, ()):
            if entry.claim.period == proof.period and entry.claim.root == proof.root:
                if entry.disputed_by:
                    return False
                entry.disputed_by = proof.challenger or "?"
                return True
        return False

    def disputed(self) -> list[FraudProof]:
        """Proofs of the claims still waiting for a verdict (to judge again after a
        restart or when the DA grid could not answer)."""
        return [FraudProof(b, e.claim.period, e.claim.root, 0.0, e.disputed_by)
                for b in sorted(self.pending) for e in self.pending[b] if e.disputed_by]

    def adjudicated(self, bucket: bytes, period: int, *, fraud: bool,
                    challenger: str) -> list[Effect]:
        """The verdict on a disputed claim: revert and slash, or count a false alarm."""
        queue = self.pending.get(bucket, [])
        at = next((i for i, e in enumerate(queue) if e.claim.period == period), None)
        if at is None:
            return []  # accepted meanwhile or already reverted: nothing left to judge
        if not fraud:
            self.false_alarms += 1
            queue[at].disputed_by = ""
            return []
        claim = queue[at].claim
        del queue[at:]  # later claims build on the fraudulent one
        self.frozen.add(bucket)
        amount = self.bonds.pop(claim.sequencer, 0)
        self.slashed[claim.sequencer] = self.slashed.get(claim.sequencer, 0) + amount
        self.rewards[challenger] = self.rewards.get(challenger, 0) + amount // 2
        return [Slashed(claim.sequencer, amount, bucket, period, challenger)]

    def resume(self, now_ns: int) -> None:
        """After a restart: every claim still pending gets a whole window of uptime again
        (its available time starts from zero, its data counts as seen now).

        Why: fraud proofs sent while the hub was down are lost; without this, a claim
        whose window ran out during the outage would be accepted at the first tick,
        before a challenger could prove it again. The outage does not count towards
        ``unavailable_max_ms`` either: the hub could not look.
        """
        for queue in self.pending.values():
            for entry in queue:
                if entry.window_ns:
                    entry.deadline_ns = max(entry.deadline_ns, now_ns + entry.window_ns)
                    entry.credit_ns, entry.seen_ns = 0, now_ns

    # ------------------------------------------------------------------ DA availability

    def claims_page(self, bucket: bytes, from_period: int, *, after_bucket: bytes = b"",
                    limit: int) -> tuple[list[tuple[SupplyRank, int]], bool]:
        """What a watcher re-derives its work from: (claim, deadline_ns) pairs, at most
        ``limit``, and whether more follow.

        ``bucket`` empty: the claims still in their windows, every bucket's, in (bucket,
        period) order from (``after_bucket``, ``from_period``) on — paged by that cursor.
        A bucket given: its claims from ``from_period`` on, accepted (deadline 0) then
        pending — the history a watcher re-executes before judging, paged by period.
        """
        entries: list[tuple[SupplyRank, int]] = []
        if bucket:
            acc = self.accepted.get(bucket)
            entries += [(c, 0) for c in (acc.history if acc else ()) if c.period >= from_period]
            entries += [(e.claim, e.deadline_ns) for e in self.pending.get(bucket, ())
                        if e.claim.period >= from_period]
        else:
            entries += [(e.claim, e.deadline_ns) for b in sorted(self.pending)
                        if b >= after_bucket for e in self.pending[b]
                        if b > after_bucket or e.claim.period >= from_period]
        kept = entries[:limit]
        assert all(d > 0 for _, d in kept if not bucket), "a pending claim has a deadline"
        return kept, len(entries) > len(kept)

    def probe_roots(self) -> tuple[bytes, ...] | None:
        """The data roots to ask the DA grid about (claims in a window, in (bucket,
        period) order, at most ``probe_roots_max``); None when no claim needs a probe."""
        roots: dict[bytes, None] = {}
        needed = False
        for b in sorted(self.pending):
            for e in self.pending[b]:
                if not e.window_ns:
                    continue
                mine = e.claim.batch_roots()
                if len(roots) + len(mine) > probe_roots_max:
                    return tuple(roots) if needed else None
                needed = True
                roots.update(dict.fromkeys(mine))
        return tuple(roots) if needed else None

    def observed(self, held: Iterable[bytes], sent_ns: int, now_ns: int
                 ) -> list[Effect] | None:
        """The DA grid answered a probe sent at ``sent_ns``: it holds ``held``.

        Every windowed claim whose roots are all held is credited the time since its
        data was last seen, if that gap is at most ``probe_gap_max_ms`` (a longer gap is
        an outage: it does not count), then counts as seen at ``sent_ns``. Returns the
        acceptances this allows, or None when it changed nothing (an old answer).
        """
        assert 0 <= sent_ns <= now_ns, "a probe answered before it was sent"
        have = set(held)
        changed = False
        for b in sorted(self.pending):
            for e in self.pending[b]:
                if not e.window_ns or sent_ns <= e.seen_ns:
                    continue
                if not all(r in have for r in e.claim.batch_roots()):
                    continue
                gap = sent_ns - e.seen_ns
                if gap <= self.probe_gap_max_ns:
                    e.credit_ns = min(e.window_ns, e.credit_ns + gap)
                e.seen_ns = sent_ns
                changed = True
        if not changed:
            return None
        return self._accept_due(now_ns)

    def _refuse_unavailable(self, now_ns: int) -> list[Effect]:
        """Refuse every claim whose data was not seen for ``unavailable_max_ms`` (and the
        later claims of its bucket, which build on it); freeze the bucket, slash no one.

        Why refuse and not hold: a claim nobody can check must not be merged, and a hub
        that held it forever would hold its bucket forever. Why not slash: the hub cannot
        tell a withholding sequencer from a failed grid (the fisherman's dilemma).
        """
        out: list[Effect] = []
        for b in sorted(self.pending):
            queue = self.pending[b]
            at = next((i for i, e in enumerate(queue) if e.window_ns
                       and now_ns - e.seen_ns > self.unavailable_max_ns), None)
            if at is None:
                continue
            for e in queue[at:]:
                out.append(Rejected(b, e.claim.period, "data unavailable past unavailable_max_ms"))
            self.refused_unavailable += len(queue) - at
            del queue[at:]
            self.frozen.add(b)
            if not queue:
                del self.pending[b]
        return out

    def _accept_due(self, now_ns: int) -> list[Effect]:
        out: list[Effect] = []
        for b in sorted(self.pending):
            queue = self.pending[b]
            while (queue and queue[0].credit_ns >= queue[0].window_ns
                   and not queue[0].disputed_by):
                entry = queue.pop(0)
                assert entry.deadline_ns <= now_ns, "credited more time than has passed"
                out.extend(self._accept(b, entry))
            if not queue:
                del self.pending[b]
        return out

    def _accept(self, b: bytes, entry: _Pending) -> list[Effect]:
        c = entry.claim
        acc = self.accepted.setdefault(b, _Bucket())
        assert c.period == acc.period + 1
        acc.q, acc.root, acc.period, acc.weight_mass = entry.q, c.root, c.period, c.weight_mass
        acc.history.append(c)
        self.pool += int(c.fee)
        self.fees_in += int(c.fee)
        self.demand[b] = self.demand.get(b, 0) + int(c.links)
        self._merged_since.append((b, c.period))
        if c.retire:
            self.retired.add(b)
        return [Forward(c)] if self.forward else []

    # ------------------------------------------------------------------ merging

    def tick(self, now_ns: int) -> list[Effect]:
        """Refuse claims whose data stayed unseen past the cap, accept those with a whole
        window of available time; merge when the merge period is due."""
        out = self._refuse_unavailable(now_ns) + self._accept_due(now_ns)
        if self.next_merge_ns is None:
            self.next_merge_ns = now_ns + int(self.merge_ms * 1e6)
        if now_ns >= self.next_merge_ns:
            self.next_merge_ns = now_ns + int(self.merge_ms * 1e6)
            out.append(self.merge(now_ns))
        return out

    def merge(self, now_ns: int) -> Committed:
        """Merge every accepted bucket into a new global snapshot and commit its root."""
        live = [b for b in sorted(self.accepted) if b not in self.retired
                and len(self.accepted[b].q)]
        weights = np.array([self.accepted[b].weight_mass for b in live], dtype=np.float64)
        total = float(weights.sum())
        parts = [dequantize(self.accepted[b].q) * (w / total) for b, w in zip(live, weights, strict=True)]
        pi = np.concatenate(parts) if parts else np.zeros(0)
        self.global_q = quantize(np.clip(pi, 0.0, 1.0))
        self.order = tuple(live)
        self.snapshot = {b: self.accepted[b].period for b in live}
        manifest = b"".join(len(b).to_bytes(2, "big") + b
                            + self.accepted[b].period.to_bytes(8, "big") for b in live)
        self.root = blake3.blake3(merkle_root(self.global_q) + manifest,
                                  derive_key_context=_ROOT_CONTEXT).digest()
        self.height += 1
        if self.redistribute:
            self._redistribute()
        merged, self._merged_since = tuple(self._merged_since), []
        return Committed(self.height, self.root, merged, now_ns)

    def _redistribute(self) -> None:
        total = sum(self.demand.values())
        if not total or not self.pool:
            return
        paid = 0
        for b in sorted(self.demand):
            share = self.pool * self.demand[b] // total
            self.credits[b] = self.credits.get(b, 0) + share
            paid += share
        self.pool -= paid
        self.demand.clear()

    def global_pi(self) -> np.ndarray:
        """The last merged global π (float64)."""
        return dequantize(self.global_q)

    def invariants(self) -> None:
        """Fees are conserved; pending claims extend the accepted ones in order."""
        assert self.pool + sum(self.credits.values()) == self.fees_in
        for b, queue in self.pending.items():
            acc = self.accepted.get(b, _Bucket())
            periods = [e.claim.period for e in queue]
            assert periods == list(range(acc.period + 1, acc.period + 1 + len(queue)))
            assert all(0 <= e.credit_ns <= e.window_ns for e in queue)
        assert all(v >= 0 for v in self.bonds.values())
