"""The campaign's progress line on stderr: seeds done/total, failures, rate, running.

On a terminal the line is redrawn in place (at most ``TTY_EVERY_S`` apart, and at every
finished seed); elsewhere (CI logs, a pipe) a plain line is printed at most every
``PLAIN_EVERY_S``, so logs stay short but a long campaign still shows it is alive.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

TTY_EVERY_S = 0.5
PLAIN_EVERY_S = 30.0


class ProgressLine:
    """Tells a human how far a campaign is; ``update`` often, ``close`` at the end."""

    def __init__(self, total: int, *, stream: TextIO | None = None,
                 enabled: bool | None = None, label: str = "chaos") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = True if enabled is None else enabled
        self.total = total
        self.label = label
        self.done = 0
        self.failures = 0
        self.stage = "seeds"
        self.note = ""
        self._started = time.monotonic()
        self._last = float("-inf")
        self._width = 0

    def text(self) -> str:
        """The line as it would be shown now."""
        minutes = (time.monotonic() - self._started) / 60
        rate = self.done / minutes if minutes > 0 else 0.0  # seeds: the first stage
        line = f"{self.label}: {self.stage} {self.done}/{self.total}, {self.failures} failing"
        if self.stage == "seeds":
            line += f", {rate:.1f} seeds/min"
        return f"{line}, {self.note}" if self.note else line

    def update(self, *, force: bool = False) -> None:
        """Show the line if it is due (``force``: a seed just finished)."""
        if not self.enabled:
            return
        now = time.monotonic()
        every = TTY_EVERY_S if self.tty else PLAIN_EVERY_S
        if not (force and self.tty) and now - self._last < every:
            return
        self._last = now
        line = self.text()
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line (a terminal's cursor goes to the next line)."""
        if self.enabled and self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
