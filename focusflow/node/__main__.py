"""``python -m focusflow.node``: the node command alone (what the devnet launches).

Same arguments as ``focusflow node``; it skips the CLI's subcommand discovery, so a node
process imports only what a node needs.
"""

import argparse
import sys

from focusflow.cli.node import register

parser = argparse.ArgumentParser(prog="python -m focusflow.node")
register(parser.add_subparsers(dest="command"))
args = parser.parse_args(["node", *sys.argv[1:]])
sys.exit(int(args.func(args) or 0))
