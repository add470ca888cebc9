"""Data availability sampling: how many samples, which ones, and what they guarantee.

A producer that wants to stop reconstruction of a 2k x 2k extended square must withhold at
least (k+1)^2 shares: with only k^2 missing (a whole quadrant, say) every row still has k
shares and the repair completes; withholding a (k+1) x (k+1) sub-square leaves those k+1
rows and columns with k-1 shares each, and no axis can start decoding it. So a light node
that draws ``s`` *distinct* cells uniformly from the N = 4k^2 cells misses the withholding
only if all ``s`` land among the A = N - (k+1)^2 available cells:

    P(miss) = C(A, s) / C(N, s) = prod_{i<s} (A - i) / (N - i)  <=  (A / N)^s

and A/N = 1 - (k+1)^2 / (4k^2) < 3/4 for every k. Sixteen samples give P(miss) <=
(3/4)^16 = 1.002% in the limit k -> infinity and below 1% for every k <= 128 (0.92% at k = 128,
0.18% at k = 8): detection >= 99%. ``detection_probability`` computes the exact value.

Sample coordinates come from a seed the *runtime* supplies (never ``random``): BLAKE3 in
XOF mode expands it, and rejection sampling keeps the draw uniform and distinct.
"""

from __future__ import annotations

import math

import blake3

__all__ = [
    "BLAKE3_SAMPLING_CONTEXT",
    "choose_samples",
    "detection_probability",
    "samples_needed",
    "unrecoverable_withholding_min",
]

BLAKE3_SAMPLING_CONTEXT = "focusflow 2026-11 da sample coordinates v1"
#: More samples than this per block is a configuration error (and a DoS on full nodes).
samples_max = 256


def unrecoverable_withholding_min(k: int) -> int:
    """Fewest withheld shares of a 2k x 2k square that block reconstruction: (k+1)^2."""
    assert k >= 1
    return (k + 1) ** 2


def detection_probability(k: int, samples: int, *, distinct: bool = True) -> float:
    """P(at least one of ``samples`` uniform draws hits a withheld share), smallest withholding.

    ``distinct=True`` is what :func:`choose_samples` does (no repeats); ``False`` is the
    with-replacement bound ``1 - (A/N)^s``.
    """
    assert k >= 1 and samples >= 0
    total = 4 * k * k
    available = total - unrecoverable_withholding_min(k)
    if not distinct:
        return 1.0 - (available / total) ** samples
    if samples > available:
        return 1.0
    log_miss = sum(math.log((available - i) / (total - i)) for i in range(samples))
    return 1.0 - math.exp(log_miss)


def samples_needed(k: int, confidence: float) -> int:
    """Fewest distinct samples whose detection probability reaches ``confidence``."""
    assert 0.0 < confidence < 1.0
    for s in range(1, samples_max + 1):
        if detection_probability(k, s) >= confidence:
            return s
    raise ValueError(f"confidence {confidence} needs more than {samples_max} samples")


def choose_samples(seed: bytes, width: int, count: int) -> list[tuple[int, int]]:
    """``count`` distinct (row, col) cells of a ``width``-wide square, uniform, from ``seed``."""
    if not 1 <= width <= 256 or not 0 <= count <= min(samples_max, width * width):
        raise ValueError(f"cannot draw {count} distinct cells from a {width}x{width} square")
    cells = width * width
    # 4-byte draws; reject the top sliver so the modulo is exact (uniform).
    limit = (1 << 32) - ((1 << 32) % cells)
    stream = blake3.blake3(seed, derive_key_context=BLAKE3_SAMPLING_CONTEXT)
    chosen: list[tuple[int, int]] = []
    seen: set[int] = set()
    offset = 0
    while len(chosen) < count:
        chunk = stream.digest(length=4 * 64, seek=offset)
        offset += len(chunk)
        for i in range(0, len(chunk), 4):
            value = int.from_bytes(chunk[i : i + 4], "little")
            if value >= limit:
                continue
            cell = value % cells
            if cell in seen:
                continue
            seen.add(cell)
            chosen.append(divmod(cell, width))
            if len(chosen) == count:
                break
        assert offset < (1 << 24), "sample draw did not terminate"
    return chosen
