"""The ``--shards S`` branch of ``focusflow rank``: output as the single-kernel path."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np

from focusflow.actors.rank.actor import gpu_count
from focusflow.actors.rank.sharding import SHARDS_MAX
from focusflow.actors.rank.simrun import sharded_focus, summary
from focusflow.actors.rank.store import RankStore
from focusflow.actors.state.ids import cid_of
from focusflow.kernels import FocusParams, GraphStore

EXIT_OK, EXIT_NOT_CONVERGED, EXIT_BAD_INPUT = 0, 1, 2


def particle_keys(names: Sequence[str]) -> list[bytes]:
    """CIDs of the edge file's node names (CIDv1 raw BLAKE3 of the UTF-8 name): the bytes
    the shard function hashes, as for particles made on-chain."""
    return [cid_of(name.encode()) for name in names]


def run_sharded(args: argparse.Namespace, graph: GraphStore, params: FocusParams,
                names: Sequence[str]) -> int:
    """π with ``args.shards`` workers under the simulator; writes ``args.out`` like the
    single-kernel path. Exit 1 when π did not converge (nothing written), 2 on bad input."""
    shards = int(args.shards)
    if not 1 <= shards <= SHARDS_MAX:
        print(f"focusflow rank: --shards must be in 1..{SHARDS_MAX}", file=sys.stderr)
        return EXIT_BAD_INPUT
    store = RankStore(shards, graph, particle_keys(names))
    gpus = gpu_count() if args.backend in ("cuda", "auto") else 0
    outcome, run = sharded_focus(store, params=params, gpus=gpus)
    if not outcome.converged:
        print(f"focusflow rank: not converged, nothing written: residual "
              f"{outcome.residual:.3e} > eps {params.eps:.1e} after {outcome.iterations} "
              f"iterations", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    pi = outcome.pi
    order = np.argsort(-pi, kind="stable")
    lines = [f"{names[i]}\t{float(pi[i])!r}" for i in order]
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    info = summary(run)
    print(f"focus π with {shards} shard workers on {info['hosts']} simulated hosts: "
          f"{graph.n} particles, {outcome.iterations} rounds, {outcome.epochs} epoch(s), "
          f"residual {outcome.residual:.2e}, root {outcome.root.hex()[:16]}…, "
          f"{run.sim.virtual_seconds:.3f} virtual s", file=sys.stderr)
    print_top(lines, args.top, as_json=bool(getattr(args, "json", False)))
    return EXIT_OK


def print_top(lines: list[str], top: int, *, as_json: bool) -> None:
    """The first ``top`` "particle<TAB>value" lines on stdout, as such or as one JSON
    list of {particle, value} (``focusflow rank --top K [--json]``)."""
    rows = [line.split("\t") for line in lines[: max(top, 0)]]
    if as_json:
        print(json.dumps([{"particle": name, "value": float(v)} for name, v in rows]))
        return
    for name, v in rows:
        print(f"{name}\t{v}")
