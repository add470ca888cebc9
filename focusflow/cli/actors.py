"""``focusflow actors list|get PATH|restart PATH``: a running node's actors.

Read-only unless the node enables ``[http] actors_write`` (then ``restart`` works).

Each actor: path, class, incarnation, mailbox depth (and its bound), restarts and the
cause of its last abnormal death.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from focusflow.cli.status import add_target_args, node_url, wants_json


def _run(args: Any) -> int:
    from focusflow.node import client

    try:
        if args.action == "list":
            data = client.get(node_url(args), "/actors")
        elif args.action == "restart":
            if not args.path:
                print("error: actors restart needs a PATH", file=sys.stderr)
                return 2
            data = client.post_json(node_url(args), f"/actors{args.path}/restart")
        else:
            if not args.path:
                print("error: actors get needs a PATH", file=sys.stderr)
                return 2
            data = client.get(node_url(args), "/actors" + args.path)
    except client.NodeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if isinstance(data, dict) and "error" in data:
        print(f"error: {data['error']}", file=sys.stderr)
        return 1
    if wants_json(args):
        print(json.dumps(data))
        return 0
    if args.action == "restart":
        print(f"{data['path']} stopped ({data['stopped']}); its supervisor restarts it")
        return 0
    for a in data if isinstance(data, list) else [data]:
        print(f"{'  ' * a['depth']}{a['path']:40} {a['class']:16} inc {a['incarnation']:<4} "
              f"mailbox {a['mailbox_depth']}/{a['mailbox_depth_max']} restarts {a['restarts']}"
              f"{'  last death: ' + a['last_death'] if a['last_death'] else ''}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``focusflow actors``."""
    p = subparsers.add_parser("actors", help="list or inspect a running node's actors")
    p.add_argument("action", choices=("list", "get", "restart"),
                   help="restart needs [http] actors_write = true on the node")
    p.add_argument("path", nargs="?", help="actor path for 'get', e.g. /user/node/validator")
    add_target_args(p)
    p.set_defaults(func=_run)
