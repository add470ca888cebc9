"""structlog set-up for a node process: console on a terminal, JSON otherwise.

Per-module levels: the logger's name (``structlog.get_logger("focusflow.net")``) is
matched by longest prefix against ``modules``; the rest use ``level``. Only public keys
and names are ever logged, never key material.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL, "exception": logging.ERROR}


class _NamedLogger(structlog.PrintLogger):
    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


def configure_logging(*, level: str = "info", fmt: str = "auto",
                      modules: dict[str, str] | None = None, stream: TextIO | None = None) -> None:
    """Configure structlog for this process (call once, in the node's main)."""
    out = stream or sys.stderr
    default = _LEVELS[level]
    table = sorted(((k, _LEVELS[v]) for k, v in (modules or {}).items()),
                   key=lambda kv: -len(kv[0]))

    def filter_level(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        name = getattr(logger, "name", "")
        threshold = next((lv for prefix, lv in table if name.startswith(prefix)), default)
        if _LEVELS.get(method, logging.INFO) < threshold:
            raise structlog.DropEvent
        event.setdefault("logger", name)
        return event

    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=out.isatty()) if console
                     else structlog.processors.JSONRenderer())
    structlog.configure(
        processors=[filter_level, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), renderer],
        logger_factory=lambda *args: _NamedLogger(out, str(args[0]) if args else "focusflow"),
        cache_logger_on_first_use=False,
    )
