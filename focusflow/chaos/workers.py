"""Worker processes for chaos runs: one forked process per task, watched from outside.

A chaos run executes arbitrary scenario code under faults; it may loop, balloon or be
killed by the kernel's OOM killer. ``multiprocessing.Pool`` waits forever for a result
from a worker that died, so campaigns and shrinking use this instead: every task runs
in a fresh forked process (its memory goes back to the system when it ends, so a leak
cannot accumulate over seeds or shrink candidates) in its own process group, and the
parent

- notices a worker that exits without a result and reports how it died ("signal 9"),
- samples each worker's resident memory and kills (SIGKILL, the whole group) one that
  passes the RSS cap, reporting the cap,
- kills a worker that runs past its wall-clock limit,
- on leaving early (Ctrl-C, an exception) kills every worker it started.

Workers ignore SIGINT (Ctrl-C is the parent's to handle) and, on Linux, die with the
parent (``PR_SET_PDEATHSIG``), so nothing outlives the campaign.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

#: How often the parent samples its workers' memory (seconds).
POLL_S = 0.25
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PR_SET_PDEATHSIG = 1


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one worker may use; None: unlimited."""

    #: Resident memory (MiB) above which the parent SIGKILLs the worker.
    rss_mb: float | None = None
    #: Wall-clock seconds after which the parent SIGKILLs the worker.
    timeout_s: float | None = None


UNLIMITED = Limits()


@dataclasses.dataclass
class Outcome:
    """How a task ended: its value, or why there is none."""

    value: Any = None
    #: None when the task returned; else why not ("signal 9", "killed: RSS ...", or the
    #: exception the task raised, formatted).
    died: str | None = None
    #: Peak resident memory of the worker (MiB): its own report, else the parent's samples.
    max_rss_mb: float = 0.0
    wall_seconds: float = 0.0


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (0.0 where /proc is not available)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def own_max_rss_mb() -> float:
    """This process's peak resident memory (MiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _child(fn: Callable[[Any], Any], item: Any, conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # held by run_tasks
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # its own group: the parent kills it with everything it started
    _die_with_parent()
    try:
        value = fn(item)
        message: tuple[str, Any, float] = ("ok", value, own_max_rss_mb())
    except BaseException as exc:  # reported to the parent, which decides
        text = "".join(traceback.format_exception_only(exc)).strip()
        message = ("error", f"{text}\n{traceback.format_exc(limit=8)}", own_max_rss_mb())
    conn.send(message)
    conn.close()


@dataclasses.dataclass
class _Running:
    index: int
    process: Any
    conn: Connection
    started: float
    peak_mb: float = 0.0
    killed: str | None = None
    message: tuple[str, Any, float] | None = None


def _start(ctx: Any, fn: Callable[[Any], Any], index: int, item: Any) -> _Running:
    reader, writer = ctx.Pipe(duplex=False)
    # not daemonic: a shrink worker starts workers of its own
    proc = ctx.Process(target=_child, args=(fn, item, writer))
    try:
        proc.start()
    finally:
        writer.close()
    return _Running(index, proc, reader, time.monotonic())


def _kill(proc: Any) -> None:
    """SIGKILL a worker's process group (the worker and whatever it started)."""
    if proc.pid is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGKILL)


def _death(proc: Any) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "?"
        return f"signal {-code} ({name})"
    return f"exit status {code} without a result"


def run_tasks(fn: Callable[[Any], Any], items: Sequence[Any], *, jobs: int,
              limits: Limits = UNLIMITED,
              tick: Callable[[], None] | None = None) -> Iterator[tuple[int, Outcome]]:
    """Run ``fn(item)`` for every item, ``jobs`` at a time, each in a fresh forked
    process; yield ``(index, outcome)`` as tasks end (in completion order).

    ``tick`` is called about every ``POLL_S`` while tasks run (a progress line). Leaving
    the iteration early (Ctrl-C, break) kills the running workers.
    """
    assert jobs >= 1
    ctx: Any = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    pending = list(enumerate(items))[::-1]
    running: dict[int, _Running] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                index, item = pending.pop()
                # SIGINT is held while a worker forks and is registered: a Ctrl-C in
                # between would leave a worker nobody kills (and the interpreter's exit
                # would wait for it)
                held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                try:
                    running[index] = _start(ctx, fn, index, item)
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, held)
            ready = wait([r.conn for r in running.values()]
                         + [r.process.sentinel for r in running.values()], timeout=POLL_S)
            now = time.monotonic()
            for r in list(running.values()):
                if r.message is None and (r.conn in ready or r.conn.poll()):
                    try:
                        r.message = r.conn.recv()
                    except (EOFError, OSError):
                        r.message = None
                        r.conn.close()
                        r.process.join()
                if r.message is None and r.process.is_alive():
                    r.peak_mb = max(r.peak_mb, rss_mb(r.process.pid))
                    if limits.rss_mb is not None and r.peak_mb > limits.rss_mb:
                        r.killed = (f"killed: resident memory {r.peak_mb:.0f} MiB over the "
                                    f"{limits.rss_mb:.0f} MiB cap")
                        _kill(r.process)
                    elif limits.timeout_s is not None and now - r.started > limits.timeout_s:
                        r.killed = f"killed: ran past the {limits.timeout_s:g} s limit"
                        _kill(r.process)
                    continue
                r.process.join()
                del running[r.index]
                r.conn.close()
                yield r.index, _outcome(r, now)
            if tick is not None:
                tick()
    finally:
        for r in running.values():
            _kill(r.process)
        for r in running.values():
            r.process.join()
            r.conn.close()


def _outcome(r: _Running, now: float) -> Outcome:
    wall = round(now - r.started, 3)
    if r.message is None:
        return Outcome(died=r.killed or _death(r.process), max_rss_mb=round(r.peak_mb, 1),
                       wall_seconds=wall)
    status, value, peak = r.message
    peak = round(max(peak, r.peak_mb), 1)
    if status == "ok":
        return Outcome(value=value, max_rss_mb=peak, wall_seconds=wall)
    return Outcome(died=f"raised {value}", max_rss_mb=peak, wall_seconds=wall)


def run_one(fn: Callable[[Any], Any], item: Any, *, limits: Limits = UNLIMITED) -> Outcome:
    """Run ``fn(item)`` in one watched worker process and wait for its outcome."""
    for _, outcome in run_tasks(fn, [item], jobs=1, limits=limits):
        return outcome
    raise AssertionError("unreachable: run_tasks yields every task")
