"""``focusflow query``: read a node's chain and state (JSON on stdout).

focusflow query status|blocks [A:B]|block H|links CIDHEX|balance ADDRHEX|top [N]|finality
focusflow query proof KEYPATHHEX   # value + proof + the signed block (light clients)
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from focusflow.cli.status import add_target_args, node_url

KINDS = ("status", "blocks", "block", "links", "balance", "top", "finality", "proof")


def _run(args: Any) -> int:
    from urllib.parse import quote

    from focusflow.node import client

    try:
        data = client.get(node_url(args), f"/v1/{args.kind}?arg={quote(args.arg or '')}")
    except client.NodeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if isinstance(data, dict) and "error" in data:
        print(f"error: {data['error']}", file=sys.stderr)
        return 1
    print(json.dumps(data, indent=None if args.output == "json" else 1))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``focusflow query``."""
    p = subparsers.add_parser("query", help="query a node: blocks, links, balance, top, ...")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("arg", nargs="?", default="")
    add_target_args(p)
    p.set_defaults(func=_run)
