"""``focusflow node``: run one host's node until SIGTERM.

focusflow node --config ~/.focusflow/config/node.toml
focusflow node --home ~/.focusflow          # same, config from <home>/config/node.toml

Exit status: 0 after SIGTERM/SIGINT, 2 for a configuration error, 70 when the node's
supervisor tree gave up (its children kept crashing): a process manager restarts it.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import Any

#: Exit status when the node's top supervisor gave up (EX_SOFTWARE): restart me.
EXIT_NODE_FAILED = 70


def _run(args: Any) -> int:
    import anyio

    from focusflow.cli.status import config_path, load_node_settings
    from focusflow.node.app import NodeFailed, run_node
    from focusflow.node.chain import ChainError
    from focusflow.node.config import ConfigError, HomeLock, check_listen_free
    from focusflow.node.logs import configure_logging

    try:
        settings = load_node_settings(args)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        lock = HomeLock(settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with lock:
        try:
            check_listen_free(settings, config_path(args))
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        configure_logging(level=settings.log_level, fmt=args.log_format or settings.log_format,
                          modules=settings.log_modules)
        try:
            anyio.run(partial(run_node, settings,
                              record=Path(args.record) if args.record else None),
                      backend=args.backend)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except NodeFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_NODE_FAILED
        except ChainError as exc:  # the block log is corrupt: never serve it
            print(f"error: block log of {settings.data_dir}: {exc}", file=sys.stderr)
            return 3
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``focusflow node``."""
    p = subparsers.add_parser("node", help="run a node (validator or full) until SIGTERM")
    p.add_argument("--config", help="path of node.toml")
    p.add_argument("--home", help="home folder (default $FOCUSFLOW_HOME or ~/.focusflow)")
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--log-format", choices=("auto", "console", "json"))
    p.add_argument("--record", metavar="FILE", default=None,
                   help="record every input the node consumes and write it to FILE at the "
                        "stop (start from an empty data dir); focusflow replay FILE "
                        "reproduces the run")
    p.set_defaults(func=_run)
