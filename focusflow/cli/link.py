"""``focusflow link``: sign a cyberlink with a neuron key and submit it to a node.

focusflow link --key alice.key --from <cid|file:PATH> --to <cid|file:PATH> --nonce N \
    [--url …|--home …] [--focus 1000] [--wait-s 10]

Admitted to the mempool is not applied: a block may still refuse the tx at execution
(nonce gap, replay, expiry, balance). The command polls ``/v1/tx`` and reports which
(exit status 1 when refused).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from focusflow.cli.status import add_target_args, node_url, wants_json


def _particle(text: str) -> bytes:
    """``file:PATH`` (the CID of its bytes) or a particle id in any accepted form."""
    from focusflow.actors.state.ids import IdentityError, cid_from_text, cid_of

    if text.startswith("file:"):
        return cid_of(Path(text[5:]).read_bytes())
    try:
        return cid_from_text(text)
    except IdentityError as exc:
        raise SystemExit(f"error: {text!r} is not a particle id ({exc})") from exc


def _run(args: Any) -> int:
    from focusflow.actors.state.ids import Neuron
    from focusflow.actors.state.tx import TxKind, make_tx, tx_hash_of
    from focusflow.node import client

    neuron = Neuron.from_seed(bytes.fromhex(Path(args.key).read_text().strip()))
    url = node_url(args)
    try:
        chain = args.chain_id or client.get(url, "/status")["chain_id"]
        tx = make_tx(neuron, chain_id=chain, nonce=args.nonce, kind=TxKind.LINK,
                     links=[(_particle(args.src), _particle(args.dst))])
        reply = client.submit(url, [tx], [args.focus])
        if reply["accepted"] and args.wait_s > 0:  # admitted: did a block apply it?
            reply["tx"] = client.wait_for_tx(url, tx_hash_of(tx), timeout_s=args.wait_s)
    except client.NodeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    fate = reply.get("tx", {})
    if wants_json(args):
        print(json.dumps(reply))
    else:
        print(f"accepted {reply['accepted']} rejected {reply['rejected']} {reply['reason']}")
        if fate:
            where = f" at height {fate['height']}" if fate.get("height") is not None else ""
            print(f"tx {fate['id']}: {fate['status']}{where} {fate.get('reason', '')}".rstrip())
    return 0 if reply["accepted"] and fate.get("status") != "rejected" else 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``focusflow link``."""
    p = subparsers.add_parser("link", help="sign and submit a cyberlink")
    p.add_argument("--key", required=True, help="neuron key file (focusflow keys new)")
    p.add_argument("--from", dest="src", required=True, help="particle: CID text, hex or file:PATH")
    p.add_argument("--to", dest="dst", required=True, help="particle: CID text, hex or file:PATH")
    p.add_argument("--nonce", type=int, required=True, help="the neuron's next nonce")
    p.add_argument("--focus", type=int, default=1000, help="focus tag (QoS priority)")
    p.add_argument("--chain-id", help="default: the node's")
    p.add_argument("--wait-s", type=float, default=10.0,
                   help="wait this long for a block to apply or refuse the tx (0: do not wait)")
    add_target_args(p)
    p.set_defaults(func=_run)
