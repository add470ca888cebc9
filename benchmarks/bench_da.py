"""Data availability benchmark: extend + commit k x k squares, sample, reconstruct.

Prints, for k = 32, 64, 128 (random full squares of 512-byte shares):

* RS(2k, k) extension three ways, side by side in the same run:
  - ``zfec loop``: one zfec call per row and per column, shares copied in and out one by
    one (the straightforward code; the issue's "about 2 s" at k = 128);
  - ``zfec batch``: one zfec call per direction over numpy views (all rows at once);
  - ``bit-sliced``: our GF(2) four-Russians encoder (same bytes as zfec, checked here);
* NMT commitment of the 4k axes plus the data root, BLAKE3 and SHA-256;
* one sample: proof generation and light-node verification (median of many);
* repair of the square with the whole original quadrant withheld (k^2 shares).

Usage: ``python benchmarks/bench_da.py [--quick] [--sizes 32 64 128]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable

import numpy as np
import zfec

from focusflow.actors.da.erasure import codec_for
from focusflow.actors.da.reconstruct import repair
from focusflow.actors.da.square import ExtendedDataSquare, extend_square, verify_sample

SHARE = 512


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Fastest wall time of ``repeats`` runs, in seconds (least disturbed by the shared CPU)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def zfec_loop_extend(original: np.ndarray) -> np.ndarray:
    """The baseline: per-row and per-column zfec calls, share by share."""
    k = original.shape[0]
    enc = zfec.Encoder(k, 2 * k)
    parity = tuple(range(k, 2 * k))
    eds = np.zeros((2 * k, 2 * k, SHARE), dtype=np.uint8)
    eds[:k, :k] = original
    for r in range(k):
        out = enc.encode([bytes(original[r, c]) for c in range(k)], parity)
        for i, block in enumerate(out):
            eds[r, k + i] = np.frombuffer(block, dtype=np.uint8)
    for c in range(2 * k):
        out = enc.encode([bytes(eds[r, c]) for r in range(k)], parity)
        for i, block in enumerate(out):
            eds[k + i, c] = np.frombuffer(block, dtype=np.uint8)
    return eds


def random_square(k: int, rng: np.random.Generator) -> np.ndarray:
    """Random shares under sorted namespaces (so the NMTs accept the rows)."""
    square = rng.integers(0, 256, size=(k, k, SHARE), dtype=np.uint8)
    ns = np.sort(rng.integers(0, 2**62, size=k * k, dtype=np.int64)).astype(">u8").view(np.uint8)
    square[:, :, :29] = 0
    square[:, :, 21:29] = ns.reshape(k, k, 8)
    return square


def machine() -> str:
    cpu = platform.processor() or "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.platform()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, zfec {zfec.__version__}"


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def bench_size(k: int, repeats: int, rng: np.random.Generator) -> dict[str, float]:
    original = random_square(k, rng)
    codec_for(k)  # build the codec tables outside the timings
    ref = zfec_loop_extend(original)
    fast = extend_square(original, fast=True)
    assert np.array_equal(ref, fast), "bit-sliced extension differs from zfec"
    assert np.array_equal(ref, extend_square(original, fast=False))
    # Interleaved (loop, batch, fast, loop, batch, fast, ...), best of each: the CPU is shared,
    # and interleaving keeps a load spike from landing on one variant only.
    variants: dict[str, Callable[[], object]] = {
        "zfec_loop": lambda: zfec_loop_extend(original),
        "zfec_batch": lambda: extend_square(original, fast=False),
        "fast": lambda: extend_square(original, fast=True),
    }
    row: dict[str, float] = {name: float("inf") for name in variants}
    row.update({f"{name}_cpu": float("inf") for name in variants})
    for _ in range(repeats):
        for name, fn in variants.items():
            c0 = time.process_time()
            row[name] = min(row[name], best_of(fn, 1))
            # CPU seconds of this process: all three variants are single-threaded, so this
            # is the fairer figure on a CPU shared with other jobs (wall time includes waits).
            row[f"{name}_cpu"] = min(row[f"{name}_cpu"], time.process_time() - c0)
    row["commit_blake3"] = best_of(
        lambda: ExtendedDataSquare(fast, hash_name="blake3").data_root(), repeats
    )
    row["commit_sha256"] = best_of(
        lambda: ExtendedDataSquare(fast, hash_name="sha256").data_root(), repeats
    )
    eds = ExtendedDataSquare(fast)
    root = eds.data_root()
    cells = [(int(r), int(c)) for r, c in rng.integers(0, 2 * k, size=(64, 2))]
    for r, c in cells:  # a serving node keeps its row trees: time proofs, not tree builds
        eds.sample(r, c)
    prove, verify = [], []
    for r, c in cells:
        t0 = time.perf_counter()
        sample = eds.sample(r, c)
        t1 = time.perf_counter()
        ok = verify_sample(sample, data_root=root, width=eds.width, hash_name="blake3")
        t2 = time.perf_counter()
        assert ok
        prove.append(t1 - t0)
        verify.append(t2 - t1)
    row["sample_prove"] = statistics.median(prove)
    row["sample_verify"] = statistics.median(verify)
    known = np.ones((2 * k, 2 * k), dtype=bool)
    known[:k, :k] = False
    masked = np.where(known[..., None], fast, 0).astype(np.uint8)
    dah = eds.dah()
    t0 = time.perf_counter()
    rebuilt = repair(masked, known, dah)
    row["repair_q0"] = time.perf_counter() - t0
    assert np.array_equal(rebuilt.shares, fast)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="one repeat per figure (< 60 s on 2 cores)"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    rng = np.random.default_rng(2026)
    print(f"machine: {machine()}")
    print(f"commit: {commit()}   repeats: {repeats} (best of)")
    header = (
        f"{'k':>4} {'zfec loop':>10} {'zfec batch':>10} {'bit-sliced':>10} {'ratio':>6} {'cpu ratio':>9}"
        f" {'NMT+root b3':>11} {'NMT+root sha':>12} {'sample prove':>12} {'sample verify':>13} {'repair Q0':>10}"
    )
    print(header)
    for k in args.sizes:
        row = bench_size(k, repeats, rng)
        ratio = row["zfec_loop"] / row["fast"]
        cpu_ratio = row["zfec_loop_cpu"] / row["fast_cpu"]
        print(
            f"{k:>4} {row['zfec_loop']:>9.3f}s {row['zfec_batch']:>9.3f}s {row['fast']:>9.3f}s {ratio:>5.1f}x"
            f" {cpu_ratio:>8.1f}x {row['commit_blake3']:>10.3f}s {row['commit_sha256']:>11.3f}s"
            f" {row['sample_prove'] * 1e6:>10.0f}us {row['sample_verify'] * 1e6:>11.0f}us {row['repair_q0']:>9.3f}s"
        )
        print(
            f"{'':>4} cpu: {row['zfec_loop_cpu']:.3f}s loop, {row['zfec_batch_cpu']:.3f}s batch,"
            f" {row['fast_cpu']:.3f}s bit-sliced"
        )
    print(
        "ratio = zfec loop / bit-sliced wall time, cpu ratio = the same in process CPU time"
        " (same output bytes, asserted). Extension + commit = bit-sliced + NMT+root."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
