"""Fuzz the wire's decoders: N inputs, each decoded or refused with ``WireError``.

Inputs are mutations (``focusflow.wire.fuzz.mutate``) of valid frames of the runtime's
system messages and of the node's messages (consensus frames, block records, client
transactions, queries), and one in eight plain random bytes; each goes through every
decoder (``decode_all``: the stream framer, the envelope and payload decoders, the
one-pass hop decoder and its template readers). Anything other than ``WireError`` stops
the run with the input that caused it (hex) and its traceback.

    .venv/bin/python benchmarks/fuzz_wire.py                    # 20,000 inputs, seconds
    nice -n 19 .venv/bin/python benchmarks/fuzz_wire.py --count 1000000 --seed 1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import traceback

from focusflow.node.messages import (
    BlockRecord,
    Blocks,
    BlocksFrom,
    ConsensusFrame,
    Query,
    QueryReply,
    SubmitReply,
    SubmitTxs,
)
from focusflow.wire.fuzz import decode_all, frames_of, fuzz_inputs, system_seeds


def seeds() -> list[bytes]:
    record = BlockRecord(7, b"h" * 120, b"d" * 32, (b"tx1" * 30, b"tx2"), (0, 1, 2),
                         (b"s" * 64, b"t" * 64, b"u" * 64))
    node = [ConsensusFrame(b"c" * 200), BlocksFrom(12, 64), Blocks((record, record), 99),
            Blocks((), 0), SubmitTxs((b"a" * 300, b"b"), (5, 6)), SubmitReply(1, 0, "ok"),
            Query("links", "00"), QueryReply('{"a": 1}')]
    return system_seeds() + frames_of(node)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20_000, help="inputs (default 20,000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pool = seeds()
    accepted = 0
    t0 = time.perf_counter()
    for i, data in enumerate(fuzz_inputs(pool, args.count, seed=args.seed)):
        try:
            accepted += decode_all(data)
        except Exception:
            print(f"input {i} escaped WireError: {data.hex()}", file=sys.stderr)
            traceback.print_exc()
            return 1
    dt = time.perf_counter() - t0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"fuzz_wire: {args.count} inputs in {dt:.1f} s ({args.count / dt:,.0f}/s), "
          f"seed {args.seed}, {len(pool)} seed frames, decoder acceptances {accepted}, "
          f"0 escaped WireError (commit {commit})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
