"""``focusflow testnet``: write N validator homes that share one genesis, then run each.

focusflow testnet --validators 4 --out ./testnet [--chain-id C] [--base-port 26656]
    [--host 127.0.0.1] [--overwrite] [--json]
focusflow node --home ./testnet/node0 &   # … one process per home

Each home gets its own node and validator keys (from fresh randomness), the certificates
of all the others as pinned peers, and the same ``genesis.json``. Node i listens on
``base + 2i`` (p2p) and ``base + 2i + 1`` (HTTP); ``--base-port 0`` picks free ports now.
Unlike ``focusflow devnet`` it starts nothing: the homes are for you to run, copy to
other machines (edit each ``[p2p] listen`` and the peers' ``address``) or keep.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from focusflow.cli.status import add_json_arg, wants_json


def _run(args: Any) -> int:
    from focusflow.topology.devnet import VALIDATORS_MAX, Devnet

    if not 2 <= args.validators <= VALIDATORS_MAX:
        print(f"error: --validators must be 2..{VALIDATORS_MAX}", file=sys.stderr)
        return 2
    if not (args.base_port == 0 or 1024 <= args.base_port <= 65535 - 2 * args.validators):
        print("error: --base-port must be 0 (free ports now) or 1024.."
              f"{65535 - 2 * args.validators}", file=sys.stderr)
        return 2
    out = Path(args.out)
    taken = [str(out / f"node{i}") for i in range(args.validators)
             if (out / f"node{i}" / "config" / "node.toml").exists()]
    if taken and not args.overwrite:
        print(f"error: {taken[0]} already holds a node home (pass --overwrite to replace "
              "its keys and config)", file=sys.stderr)
        return 1
    net = Devnet(out, validators=args.validators, chain_id=args.chain_id,
                 hosts=[args.host] * args.validators, key_salt=secrets.token_bytes(32),
                 base_port=args.base_port)
    net.setup()
    nodes = [{"name": n.name, "home": str(n.home), "p2p": f"{n.host}:{n.p2p_port}",
              "http": n.url} for n in net.nodes]
    if wants_json(args):
        print(json.dumps({"chain_id": args.chain_id, "genesis": "config/genesis.json",
                          "nodes": nodes}))
    else:
        print(f"testnet {args.chain_id}: {args.validators} validator homes, one genesis")
        for n in nodes:
            print(f"  {n['name']:8} {n['home']}  p2p {n['p2p']}  http {n['http']}")
        print("start each (one process per home):")
        for n in nodes:
            print(f"  focusflow node --home {n['home']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``focusflow testnet``."""
    p = subparsers.add_parser("testnet", help="write N validator homes sharing one genesis")
    p.add_argument("--validators", type=int, default=4, help="number of validators (2..32)")
    p.add_argument("--out", required=True, help="folder for the homes (DIR/node0, DIR/node1, …)")
    p.add_argument("--chain-id", default="focusflow-testnet")
    p.add_argument("--base-port", type=int, default=26656,
                   help="node i listens on BASE+2i (p2p) and BASE+2i+1 (http); 0 = free ports")
    p.add_argument("--host", default="127.0.0.1", help="listen host of every node")
    p.add_argument("--overwrite", action="store_true", help="replace existing homes' keys")
    add_json_arg(p)
    p.set_defaults(func=_run)
