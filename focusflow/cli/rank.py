"""``focusflow rank EDGES --out FILE``: focus π (or go-cyber's rank) of an edge file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

EXIT_OK = 0
EXIT_NOT_CONVERGED = 1
EXIT_BAD_INPUT = 2


def register(subparsers: Any) -> None:
    """Add the ``rank`` subcommand."""
    p = subparsers.add_parser(
        "rank",
        help="compute focus π of an edge file",
        description="Compute focus π (or go-cyber x/rank with --semantics bostrom) of EDGES "
        "and write 'node<TAB>value' for every node, highest first.",
    )
    p.add_argument("edges", metavar="EDGES", help="TSV/CSV: 'src dst [weight]' or, with "
                   "--stakes, 'neuron src dst'")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write node<TAB>value")
    p.add_argument("--backend", default="auto", choices=["cpu", "cuda", "webgpu", "auto"])
    p.add_argument("--semantics", default="focus", choices=["focus", "bostrom"])
    p.add_argument("--eps", type=float, default=None,
                   help="focus: L1 tolerance (default 1e-6); bostrom: max-change tolerance "
                   "(default 1e-3)")
    p.add_argument("--stakes", metavar="FILE", help="TSV 'neuron stake' (integers)")
    p.add_argument("--top", type=int, default=0, metavar="K", help="also print the top K")
    p.add_argument("--json", action="store_true", help="print the top K as one JSON list")
    p.add_argument("--damping", type=float, default=0.85)
    p.add_argument("--iterations-max", type=int, default=1000)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--exact", action="store_true", help="focus: the committed π in exact "
                   "integer arithmetic (same bits on every backend); ends stdout with a JSON "
                   "line {pi_root, iterations, backend, scale_bits}")
    p.add_argument("--shards", type=int, default=0, metavar="S", help="focus: compute π with "
                   "S rank shard workers under the simulator (focusflow.actors.rank)")
    p.set_defaults(func=run)


def _fail(message: str, code: int) -> int:
    print(f"focusflow rank: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Parse, solve, write. Exit 1 when π did not converge (nothing written), 2 on bad input."""
    import structlog

    from focusflow.kernels import (
        BackendUnavailable,
        ConvergenceError,
        FocusParams,
        GraphStore,
        backend_for,
        bostrom_rank,
    )
    from focusflow.kernels.edgefile import EdgeFileError, read_edges, read_stakes

    # logs (e.g. why `auto` chose a backend) go to stderr: stdout carries --top output
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))

    try:
        edges = read_edges(args.edges, with_neurons=bool(args.stakes), progress=not args.quiet)
        stakes = read_stakes(args.stakes, edges.neuron_names) if args.stakes else None
    except (OSError, EdgeFileError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    if args.exact:
        if args.semantics != "focus" or args.shards:
            return _fail("--exact computes focus semantics on one kernel (no --semantics "
                         "bostrom, no --shards)", EXIT_BAD_INPUT)
        return _run_exact(args, edges, stakes)
    if args.semantics == "bostrom":
        if stakes is None:  # plain edges: each line is its own neuron, weight = stake
            assert edges.weight is not None
            if not np.all(edges.weight == np.floor(edges.weight)):
                return _fail("bostrom weights must be integers", EXIT_BAD_INPUT)
            neurons = np.arange(len(edges.src))
            stakes = {i: int(w) for i, w in enumerate(edges.weight)}
        else:
            assert edges.neuron is not None
            neurons = edges.neuron
        try:
            br = bostrom_rank(edges.n, neurons, edges.src, edges.dst, stakes, damping=args.damping,
                              tolerance=1e-3 if args.eps is None else args.eps,
                              iterations_max=args.iterations_max)
        except ConvergenceError as exc:
            return _fail(str(exc), EXIT_NOT_CONVERGED)
        values: np.ndarray = br.ranks
        order = np.argsort(-br.values, kind="stable")
        lines = [f"{edges.names[i]}\t{int(values[i])}" for i in order]
        summary = f"bostrom rank: {edges.n} particles, {br.steps} steps"
    else:
        try:
            params = FocusParams(damping=args.damping, eps=1e-6 if args.eps is None else args.eps,
                                 iterations_max=args.iterations_max)
            if stakes is not None:
                assert edges.neuron is not None
                store = GraphStore.from_cyberlinks(edges.neuron, edges.src, edges.dst,
                                                   {k: float(v) for k, v in stakes.items()},
                                                   n=edges.n)
            else:
                store = GraphStore.from_edges(edges.src, edges.dst, edges.weight, n=edges.n)
            backend = backend_for(args.backend)
        except (ValueError, BackendUnavailable) as exc:
            return _fail(str(exc), EXIT_BAD_INPUT)
        if args.shards:  # issue 9: sharded focus, delegated to the rank package
            from focusflow.actors.rank.cli import run_sharded

            return run_sharded(args, store, params, edges.names)
        result = backend.solver(store, params).solve(warm=False)
        if not result.converged:
            return _fail(f"not converged, nothing written: residual {result.residual_l1:.3e} > "
                         f"eps {params.eps:.1e} after {result.iterations} iterations",
                         EXIT_NOT_CONVERGED)
        pi = result.pi
        order = np.argsort(-pi, kind="stable")
        lines = [f"{edges.names[i]}\t{float(pi[i])!r}" for i in order]
        summary = (f"focus π on {backend.name}: {edges.n} particles, {result.iterations} "
                   f"iterations, residual {result.residual_l1:.2e}")
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    print(summary, file=sys.stderr)
    from focusflow.actors.rank.cli import print_top

    print_top(lines, args.top, as_json=args.json)
    return EXIT_OK


def _run_exact(args: argparse.Namespace, edges: Any, stakes: dict[int, int] | None) -> int:
    """--exact: integer π, ``node<TAB>q/2^60`` (17 significant digits) and the JSON line."""
    import json

    from focusflow.kernels import BackendUnavailable, FocusParams, GraphStore, backend_for
    from focusflow.kernels._commit import SCALE_BITS

    try:
        params = FocusParams(damping=args.damping, eps=1e-6 if args.eps is None else args.eps,
                             iterations_max=args.iterations_max)
        if stakes is not None:
            assert edges.neuron is not None
            store = GraphStore.from_cyberlinks(edges.neuron, edges.src, edges.dst, stakes,
                                               n=edges.n, exact=True)
        else:
            store = GraphStore.from_edges(edges.src, edges.dst, edges.weight, n=edges.n,
                                          exact=True)
        backend = backend_for(args.backend)
        result = backend.exact_solver(store, params).solve()
    except (ValueError, BackendUnavailable) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    if not result.converged:
        return _fail(f"not converged, nothing written: residual {result.residual} ≥ "
                     f"{result.eps} (2^-60 units) after {result.iterations} iterations",
                     EXIT_NOT_CONVERGED)
    q = result.q
    order = np.argsort(~q, kind="stable")  # highest first, ties by particle number
    values = q.astype(np.float64) / float(1 << SCALE_BITS)
    lines = [f"{edges.names[i]}\t{values[i]:.17g}" for i in order.tolist()]
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    print(f"exact focus π on {backend.name}: {edges.n} particles, {result.iterations} "
          f"iterations", file=sys.stderr)
    for line in lines[: max(args.top, 0)]:
        print(line)
    print(json.dumps({"pi_root": result.root.hex(), "iterations": result.iterations,
                      "backend": backend.name, "scale_bits": SCALE_BITS}))
    return EXIT_OK
