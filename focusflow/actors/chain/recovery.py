"""Recovery after a network fault: when is finality back to normal (issue 19 item 3)?

Pure functions over what the ``network`` scenario records per client transaction (when
it was submitted, when the validator it was sent to logged it final), so the definition
is tested without a simulation and reads the same for any fault.

**Definition.** Let ``heal`` be the instant the fault ends and ``p50_pre`` the median
finality latency of the txs submitted *and* finalized before the fault began (normal
operation, start-up included). The chain is back at normal finality from the first
client submission instant ``t >= heal`` such that, for every submission instant in
``[t, t + SUSTAIN_MS]``, the median finality latency of the txs submitted then is at most
``NORMAL_FACTOR × p50_pre`` (a tx never finalized counts as infinitely late).
``recovery_ms = t − heal``. With a partition, each side (the txs sent to its validators)
must be back: ``t`` is the latest of the sides' instants.

Why this one: it is what a client sees ("from when on does a tx I send now finalize as
fast as before the fault?"), it does not charge the recovery with the normal latency of
the first post-heal tx (a chain that is back at the instant of the heal scores 0, not
``p50``), the median per instant ignores the few deliberately invalid txs of the
workload, and the sustain window keeps one lucky early block from counting as recovered.
Submission instants whose txs could not have finalized within the bound before the run
ended are not judged, so a run too short to tell reports None rather than a guess.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

#: "Normal" finality: at most this multiple of the pre-fault median.
NORMAL_FACTOR = 1.5
#: How long (ms of submissions) finality must stay normal to count as recovered.
SUSTAIN_MS = 1_000.0


def partition_groups(spec: str, names: Sequence[str]) -> list[list[str]]:
    """The validator groups of a ``--partition`` spec over ``names`` (in index order).

    ``"2|2"``: consecutive groups of those sizes, which must cover every validator;
    ``"minority"``: the last f = ⌊(n−1)/3⌋ validators cut off from the rest, the largest
    minority whose loss leaves the others a quorum (3 of 10).

    Raises:
        ValueError: a malformed spec or sizes that do not add up to ``len(names)``.
    """
    n = len(names)
    if spec == "minority":
        f = (n - 1) // 3
        if f < 1:
            raise ValueError(f"--partition minority needs at least 4 validators, not {n}")
        return [list(names[: n - f]), list(names[n - f:])]
    try:
        sizes = [int(part) for part in spec.split("|")]
    except ValueError:
        raise ValueError(f"--partition must be 'minority' or sizes like '2|2', not {spec!r}") from None
    if len(sizes) < 2 or min(sizes) < 1 or sum(sizes) != n:
        raise ValueError(f"--partition {spec!r}: need two or more positive sizes adding up to {n}")
    groups, start = [], 0
    for size in sizes:
        groups.append(list(names[start:start + size]))
        start += size
    return groups


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def recovery(txs: Mapping[bytes, int], final_ns: Mapping[bytes, int], *, fault_ns: int,
             heal_ns: int, end_ns: int, side_of: Mapping[bytes, int] | None = None,
             ) -> dict[str, Any]:
    """Recovery summary of one run (see the module docstring for the definition).

    Args:
        txs: tx id → submission time (ns) of every client tx.
        final_ns: tx id → when the validator it was submitted to logged it final.
        fault_ns, heal_ns, end_ns: fault start, fault end, end of the run.
        side_of: tx id → the partition group of the validator it was sent to. Each side
            must recover: with it, the instant is the latest of the sides' instants, so a
            minority still cut off in effect (its clients' txs wait) is not hidden by the
            majority's normal finality in an all-txs median.

    Returns ``finality_ms_p50_pre``, ``normal_ms_max`` (the bound), ``recovery_ms`` (None:
    not recovered within the judged part of the run), ``recovery_ms_by_side`` and
    ``finality_ms_p50_post`` (txs submitted from the recovery instant on).
    """
    pre = [(final_ns[d] - t) / 1e6 for d, t in txs.items()
           if t < fault_ns and final_ns.get(d, end_ns) < fault_ns]
    p50_pre = _median(pre)
    out: dict[str, Any] = {"finality_ms_p50_pre": _r(p50_pre), "normal_ms_max": None,
                           "recovery_ms": None, "recovery_ms_by_side": None,
                           "finality_ms_p50_post": None}
    if p50_pre is None:
        return out
    bound_ms = NORMAL_FACTOR * p50_pre
    out["normal_ms_max"] = _r(bound_ms)
    judged_until = end_ns - int(bound_ms * 1e6)  # later submissions could not be judged
    # side -> instant -> latencies (ms); a side that got no tx after the heal (its
    # clients still wait for the txs they sent before) has not recovered
    sides: dict[int, dict[int, list[float]]] = {0 if side_of is None else side_of.get(d, 0): {}
                                                 for d in txs}
    for d, t in txs.items():
        if heal_ns <= t <= judged_until:
            f = final_ns.get(d)
            side = sides[0 if side_of is None else side_of.get(d, 0)]
            side.setdefault(t, []).append(math.inf if f is None else (f - t) / 1e6)
    instants = [_recovered_at(sides[k], bound_ms) for k in sorted(sides)]
    out["recovery_ms_by_side"] = [None if t is None else _r((t - heal_ns) / 1e6) for t in instants]
    if not instants or None in instants:
        return out
    recovered_ns = max(t for t in instants if t is not None)
    out["recovery_ms"] = _r((recovered_ns - heal_ns) / 1e6)
    out["finality_ms_p50_post"] = _r(_median(
        [(final_ns[d] - t) / 1e6 for d, t in txs.items() if t >= recovered_ns and d in final_ns]))
    return out


def _recovered_at(by_instant: Mapping[int, list[float]], bound_ms: float) -> int | None:
    """The first instant from which the per-instant median stays within ``bound_ms`` for
    ``SUSTAIN_MS`` (None: never, in the judged part)."""
    instants = sorted(by_instant)
    sustain_ns = int(SUSTAIN_MS * 1e6)
    start: int | None = None  # the first instant of the current normal run
    for t in instants:
        if statistics.median(by_instant[t]) > bound_ms:
            start = None
            continue
        if start is None:
            start = t
        if t - start >= sustain_ns - 1:
            return start  # an instant at the window's end was judged: the window is covered
    return None


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
