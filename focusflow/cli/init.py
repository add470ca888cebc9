"""``focusflow init``: create a node home (commented config, key files, genesis).

focusflow init --home ~/.focusflow --name node0 [--role validator] [--overwrite]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from focusflow.cli.status import add_json_arg, wants_json


def _run(args: Any) -> int:
    from focusflow.node.config import ConfigError, default_home, init_home

    home = Path(args.home) if args.home else default_home()
    try:
        res = init_home(home, name=args.name, chain_id=args.chain_id, role=args.role,
                        p2p_listen=args.p2p_listen, http_listen=args.http_listen,
                        overwrite=args.overwrite)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = {"home": str(res.home), "config": str(res.config),
           "node_public_key": res.node_public_key.hex(),
           "validator_public_key": res.validator_public_key.hex()}
    if wants_json(args):
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")
    print(f"initialised {home} (edit {res.config}, then: focusflow node --config {res.config})",
          file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``focusflow init``."""
    p = subparsers.add_parser("init", help="create a node home: config, keys, genesis")
    p.add_argument("--home", help="home folder (default $FOCUSFLOW_HOME or ~/.focusflow)")
    p.add_argument("--name", default="node0", help="node name (default node0)")
    p.add_argument("--role", default="validator", choices=("validator", "full", "light"))
    p.add_argument("--chain-id", default="focusflow-local")
    p.add_argument("--p2p-listen", default="127.0.0.1:26656")
    p.add_argument("--http-listen", default="127.0.0.1:26660")
    p.add_argument("--overwrite", action="store_true", help="replace an existing config and keys")
    add_json_arg(p)
    p.set_defaults(func=_run)
