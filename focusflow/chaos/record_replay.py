"""Replay a live node's recording inside the ``Simulation``, record for record.

The recorded node becomes a *fed* node of a ``Simulation`` (``focusflow.sim._feed``) with
the FIFO scheduler (the live runtime's step order) and the live runtime's knobs: the
same ``Node``, boot function, actors and scheduler that chaos runs and traces use, and
one ``RecordingFeed`` as its outside world. Before every step the feed injects what the
recording says arrived after that many steps (frames, asks of the embedding program, a
peer's dropped connection, ``run_blocking`` completions), and fires a timer when the
recording says one fired as that step; the node's clock and storage reads return the
recorded values. The replay *reproduces* when it runs the recorded number of steps,
consumes every recorded input at its step, and sends exactly the recorded frames.

A recording is untrusted input: ``load_recording`` checks its whole shape (and decodes
every frame and ask) before anything runs, and refuses a boot function from the
standard library; every problem is a ``RecordingError`` (a ``ValueError``) with the
file and what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import importlib
import json
import re
import sys
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import blake3

from focusflow.chaos.record import (
    EVENTS_MAX,
    FRAME_DIGEST_HEX,
    RECORDING_FORMAT,
    STEPS_MAX,
    frame_digest,
)
from focusflow.chaos.replay import inspect_actor
from focusflow.sim import SimDisk, Simulation
from focusflow.supervisor import RUNTIME_KNOBS, Future, Node
from focusflow.wire import KIND_NAMES, codec_for_id, decode_envelope, decode_message

T = TypeVar("T")
CONTEXT_FRAMES = 3
_BOOT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class RecordingError(ValueError):
    """The file is not a usable recording (corrupt, truncated, hostile)."""


class Divergence(AssertionError):
    """The replay consumed or produced something the recording does not have."""


# ============================================================================ loading
def is_recording(path: str | Path) -> bool:
    """Whether ``path`` is a live-input recording (not a chaos trace)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            head = fh.read(64)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error):
        return False
    return RECORDING_FORMAT in head


def load_recording(path: str | Path) -> dict[str, Any]:
    """Read and check a recording file; frames and asks come back decoded.

    Raises:
        RecordingError: unreadable, not this format, or malformed (says where).
    """
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError as exc:
        raise RecordingError(f"{path}: no such file") from exc
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError,
            RecursionError) as exc:
        raise RecordingError(f"{path}: not a readable recording "
                             f"(corrupt or truncated: {exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != RECORDING_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise RecordingError(f"{path}: not a {RECORDING_FORMAT} file"
                             + (f" (format {found!r})" if isinstance(found, str) else ""))
    try:
        _check_head(doc)
        _boot(doc["boot"])  # imports the app: its message types decode the asks
        _check_events(doc)
    except (KeyError, TypeError, ValueError, IndexError, binascii.Error) as exc:
        if isinstance(exc, RecordingError):
            raise RecordingError(f"{path}: {exc}") from exc
        raise RecordingError(f"{path}: malformed recording ({type(exc).__name__}: "
                             f"{exc})") from exc
    return doc


def _want(ok: bool, what: str) -> None:
    if not ok:
        raise RecordingError(what)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_head(doc: dict[str, Any]) -> None:
    """The shape of every field but the events; decodes the storage reads in place."""
    _want(isinstance(doc["node"], str) and bool(doc["node"]), "node: a name")
    boot = doc["boot"]
    _want(isinstance(boot, str) and bool(_BOOT.match(boot)), "boot: 'module:function'")
    _want(boot.split(".")[0].split(":")[0] not in sys.stdlib_module_names,
          f"boot {boot!r}: a standard-library function is not a boot function")
    _want(isinstance(doc.get("boot_args") or {}, dict), "boot_args: an object")
    _want(_int(doc["seed"]), "seed: an integer")
    _want(_int(doc["steps"]) and 0 <= doc["steps"] <= STEPS_MAX, "steps: 0..STEPS_MAX")
    knobs = doc.get("knobs") or {}
    _want(isinstance(knobs, dict) and set(knobs) <= set(RUNTIME_KNOBS),
          f"knobs: some of {RUNTIME_KNOBS}")
    _want(isinstance(knobs.get("tracing", False), bool), "knobs.tracing: a boolean")
    mps = knobs.get("messages_per_step", 1)
    _want(_int(mps) and 1 <= mps <= 4096, "knobs.messages_per_step: 1..4096")
    clock = doc["clock"]
    _want(isinstance(clock, list) and all(_int(t) for t in clock), "clock: integers")
    reads = doc["reads"]
    _want(isinstance(reads, list) and all(r is None or isinstance(r, str) for r in reads),
          "reads: strings or nulls")
    doc["reads"] = [None if r is None else base64.b64decode(r, validate=True) for r in reads]
    _want(_int(doc["outputs"]) and isinstance(doc["outputs_hash"], str), "outputs")
    _want(isinstance(doc.get("unsupported", []), list), "unsupported: a list")
    sent = doc.get("sent")
    _want(sent is None or (isinstance(sent, list) and all(
        isinstance(r, list) and 3 <= len(r) <= 4 and _int(r[0]) and isinstance(r[1], str)
        and _int(r[2]) and (len(r) == 3 or isinstance(r[3], str)) for r in sent)),
        "sent: rows [step, destination, bytes(, digest)]")


def _check_events(doc: dict[str, Any]) -> None:
    """The events' shape and order; decodes frames (bytes) and asks (messages) in place."""
    events = doc["events"]
    _want(isinstance(events, list) and len(events) <= EVENTS_MAX, "events: a list")
    last = 0
    for i, e in enumerate(events):
        _want(isinstance(e, list) and len(e) >= 3 and isinstance(e[0], str) and _int(e[1])
              and last <= e[1] <= doc["steps"], f"event {i}: [kind, step, ...] in step order")
        last = e[1]
        kind = e[0]
        if kind == "F":
            _want(len(e) == 3 and isinstance(e[2], str), f"event {i}: a frame")
            e[2] = base64.b64decode(e[2], validate=True)
        elif kind == "A":
            _want(len(e) == 7 and isinstance(e[2], str) and isinstance(e[3], str)
                  and _int(e[4]) and isinstance(e[5], str) and _int(e[6]) and e[6] >= 0,
                  f"event {i}: an ask")
            try:
                e[5] = decode_message(e[4], base64.b64decode(e[5], validate=True))
            except binascii.Error:
                raise
            except Exception as exc:  # the codec's own errors: a hostile message
                raise RecordingError(f"event {i}: the ask's message does not decode "
                                     f"({type(exc).__name__}: {exc})") from exc
        elif kind in "TB":
            _want(len(e) == 3 and _int(e[2]), f"event {i}: a timer or call number")
        else:
            _want(kind == "P" and len(e) == 3 and isinstance(e[2], str),
                  f"event {i}: unknown kind {kind!r}")


def _boot(target: str) -> Callable[..., None]:
    module, _, name = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise RecordingError(f"boot function {target!r} not found ({exc})") from exc
    if not callable(fn):
        raise RecordingError(f"boot {target!r} is not a function")
    return fn  # type: ignore[no-any-return]


# ============================================================================ the feed
class _Timer:
    """A fed timer's handle. Cancelling keeps it armed: the recording alone says whether
    it fires (live, a timer cancelled after it fell due still ran its step)."""

    __slots__ = ()

    def cancel(self) -> None:
        return None


class _RecordedStorage(SimDisk):
    """The node's ``ctx.storage``: reads return the recorded results, in order; writes
    land on this simulated disk (nothing reads them back but the node's own reads)."""

    def __init__(self, feed: RecordingFeed, reads: list[bytes | None]) -> None:
        super().__init__()
        self._feed = feed
        self._reads = deque(reads)

    def read(self, key: str) -> Future[bytes | None]:
        if not self._reads:
            raise self._feed.diverged(f"storage read {key!r} beyond the recorded reads")
        return Future.completed(self._reads.popleft())


class RecordingFeed:
    """A recorded live node's outside world (``focusflow.sim.NodeFeed``)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.seed = int(doc["seed"])
        self.events: deque[list[Any]] = deque(doc["events"])
        clock = doc["clock"]
        self._clock = deque(clock)
        self.t0_ns = int(clock[0]) if clock else 0
        self.last_now_ns = self.t0_ns
        self._storage = _RecordedStorage(self, list(doc["reads"]))
        self._timers: dict[int, Callable[[], None]] = {}
        self._timer_ids = 0
        self._blocking: dict[int, Callable[[], None]] = {}
        self._blocking_ids = 0
        self.in_step = False
        self.step = 0  # the step running (1-based), or the steps run between two steps
        self._out = blake3.blake3(b"focusflow.chaos.outputs")
        self.sent: list[list[Any]] = []  # [step, destination, bytes, digest] per frame
        self.frames: list[bytes] = []  # the frames themselves (kept only for --diff)
        self.keep_frames = False
        self.error: str | None = None
        self.error_step: int | None = None
        self.node: Node | None = None

    # -- NodeFeed --------------------------------------------------------------------
    def attach(self, node: Node) -> None:
        self.node = node

    def now_ns(self) -> int:
        if not self._clock:
            raise self.diverged("the clock was read more often than the live node read it")
        self.last_now_ns = self._clock.popleft()
        return self.last_now_ns

    def storage(self) -> SimDisk:
        return self._storage

    def call_later(self, delay_ns: int, fn: Callable[[], None]) -> _Timer:
        assert delay_ns >= 0
        if not self.in_step:  # the recorder numbered only timers armed in steps and asks
            return _Timer()
        self._timer_ids += 1
        self._timers[self._timer_ids] = fn
        return _Timer()

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Pure work: computed now, completed at the step the recording says it did."""
        self._blocking_ids += 1
        fut: Future[T] = Future()
        try:
            value = fn(*args)
        except Exception as exc:
            failed: BaseException = exc
            self._blocking[self._blocking_ids] = lambda: fut.set_exception(failed)
        else:
            self._blocking[self._blocking_ids] = lambda: fut.set_result(value)
        return fut

    def send_remote(self, node: str, frame: bytes) -> None:
        self.sent.append([self.step, node, len(frame), frame_digest(frame)])
        if self.keep_frames:
            self.frames.append(frame)
        self._out.update(node.encode() + b"\0" + len(frame).to_bytes(4, "little") + frame)

    def before_step(self, step: int) -> Callable[[], None] | None:
        if self.error is not None:  # seen inside a step (an actor may have caught it)
            raise Divergence(self.error)
        self.in_step = False
        self.step = step
        events = self.events
        fire = None
        while events and events[0][1] == step:
            head = events[0]
            kind = head[0]
            if kind == "T":
                events.popleft()
                fire = self._timers.pop(head[2], None)
                if fire is None:
                    raise self.diverged(f"timer {head[2]} fired live as step {step + 1} "
                                        "but was never armed in the replay", step + 1)
                break
            events.popleft()
            if kind == "B":
                complete = self._blocking.pop(head[2], None)
                if complete is None:
                    raise self.diverged(f"blocking call {head[2]} completed live after "
                                        f"step {step} but was never made in the replay",
                                        step + 1)
                complete()
            else:
                self.inject(head)
        self.step = step + 1
        self.in_step = True
        return fire

    # -- the replay's side -------------------------------------------------------------
    def diverged(self, what: str, step: int | None = None) -> Divergence:
        """Note the first divergence and its step (default: the step running, or the
        next one between two steps); the exception to raise."""
        if self.error is None:
            self.error = what
            self.error_step = self.step if step is None else step
        return Divergence(what)

    def inject(self, event: list[Any]) -> None:
        """An input that came between two steps: a frame, an ask of the embedding program,
        a dropped peer connection."""
        node = self.node
        assert node is not None
        kind = event[0]
        if kind == "F":
            node._receive_frame(event[2], local=False, wait=False)
        elif kind == "A":
            _, _, to_node, to_path, _, msg, timeout_ms = event
            self.in_step = True  # its deadline timer is numbered as the live one was
            try:
                node.ask(node.ref(to_node, to_path), msg, timeout_ms=timeout_ms)
            finally:
                self.in_step = False
        else:
            node.peer_down(event[2])

    def clock_reads_left(self) -> int:
        return len(self._clock)

    def storage_reads_left(self) -> int:
        return len(self._storage._reads)

    def outputs_hash(self) -> str:
        return self._out.hexdigest()


# ============================================================================ replay
def replay_recording(path: str | Path, *, until_step: int | None = None,
                     inspect: str | None = None, keep_frames: bool = False,
                     ) -> dict[str, Any]:
    """Re-execute a recording in the ``Simulation``; report whether it reproduced.

    ``until_step`` stops after that many steps; ``inspect`` ("node:/path", or "node"
    for its actors) dumps an actor's state there. Reproduced means: the same number of
    steps (up to the stop), every recorded input consumed at its recorded step, every
    clock and storage read matched, the same frames sent (each frame's step,
    destination, size and digest, and at the end the running hash).

    Raises:
        RecordingError: the file is not a usable recording, or its boot function fails.
        ValueError: ``inspect`` names no node of the recording.
    """
    doc = load_recording(path)
    feed = RecordingFeed(doc)
    feed.keep_frames = keep_frames
    sim = Simulation(feed.seed, scheduler="fifo", node_down_ms=None, trace_tail_max=0)
    boot = _boot(doc["boot"])
    boot_args = dict(doc.get("boot_args") or {})
    try:
        sim.add_node(doc["node"], boot=lambda node: boot(node, **boot_args), feed=feed,
                     knobs=dict(doc.get("knobs") or {}))
    except Divergence:
        pass  # noted by the feed (a read at boot beyond the recorded ones)
    except Exception as exc:
        raise RecordingError(f"{path}: boot function {doc['boot']!r} failed "
                             f"({type(exc).__name__}: {exc})") from exc
    recorded = int(doc["steps"])
    stop = recorded if until_step is None else max(0, min(until_step, recorded))
    if feed.error is None:
        try:
            sim.run(max_events=stop)
        except Divergence:
            pass  # feed.error says what and where
        except Exception as exc:  # a step raised: the live node never got there
            feed.diverged(f"step {sim.events + 1} raised {type(exc).__name__}: {exc}",
                          sim.events + 1)
    steps = sim.events
    finished = steps == recorded
    if feed.error is None and steps < stop and feed.events:
        head = feed.events[0]
        feed.diverged(f"nothing runnable after step {steps}; the recording has "
                      f"{head[0]} after step {head[1]}", steps + 1)
    if finished and feed.error is None:
        # Inputs after the last step (the stop's disconnects, a thread finishing as the
        # recording was saved): consumed as between any two steps; their steps never ran.
        with contextlib.suppress(Divergence):
            if feed.before_step(steps) is not None:
                feed.diverged(f"a timer fired after the last recorded step {steps}", steps)
    recorded_sent = doc.get("sent")
    compared = recorded_sent if finished or recorded_sent is None else [
        r for r in recorded_sent if r[0] <= steps]
    difference = first_difference(feed.sent, compared)
    hash_equal = feed.outputs_hash() == doc["outputs_hash"]
    reproduced = feed.error is None and steps == stop and difference is None and (
        not finished or (not feed.events and not feed.clock_reads_left()
                         and not feed.storage_reads_left() and hash_equal))
    mismatch = feed.error_step
    if difference is not None:
        at = difference["step"]
        mismatch = at if mismatch is None else min(mismatch, at)
    if mismatch is None and not reproduced:
        mismatch = steps  # everything matched up to the end, but something was left over
    report: dict[str, Any] = {
        "trace": str(path), "node": doc["node"], "seed": doc["seed"],
        "runtime": f"focusflow.sim.{type(sim).__name__}",
        "scheduler": sim.scheduler, "reproduced": reproduced, "finished": finished,
        "stopped_at_step": steps, "recorded_steps": recorded,
        "t_ms": (feed.last_now_ns - feed.t0_ns) / 1e6, "records_compared": steps,
        "first_mismatch": mismatch, "error": feed.error,
        "outputs": len(feed.sent), "recorded_outputs": doc["outputs"],
        "first_output_difference": difference,
        "inputs_left": len(feed.events), "clock_reads_left": feed.clock_reads_left(),
        "storage_reads_left": feed.storage_reads_left(),
        "outputs_hash_equal": hash_equal,
        "unsupported": doc.get("unsupported", []), "violations": [],
    }
    if inspect is not None:
        if ":" not in inspect and inspect != doc["node"]:
            inspect = f"{doc['node']}:{inspect}"  # a bare path: the recorded node's actor
        report["inspect"] = inspect_actor(sim, inspect)
    if keep_frames:
        report["_sent"], report["_frames"] = feed.sent, feed.frames
    return report


def first_difference(replayed: list[list[Any]], recorded: list[list[Any]] | None,
                     ) -> dict[str, Any] | None:
    """The first frame sent differently ([step, destination, bytes, digest]; a row of an
    older recording has no digest: the fields it has are compared), or None."""
    if recorded is None:
        return None
    for i, (a, b) in enumerate(zip(replayed, recorded, strict=False)):
        if list(a[:len(b)]) != list(b):
            return {"index": i, "step": min(a[0], b[0]), "replayed": a, "recorded": b}
    if len(replayed) != len(recorded):
        i = min(len(replayed), len(recorded))
        extra = replayed[i] if i < len(replayed) else recorded[i]
        return {"index": i, "step": extra[0],
                "replayed": replayed[i] if i < len(replayed) else None,
                "recorded": recorded[i] if i < len(recorded) else None}
    return None


def describe_frame(frame: bytes) -> str:
    """A human description of one frame a node sent (for ``--diff``)."""
    try:
        env = decode_envelope(frame)
    except Exception as exc:  # a malformed frame is what it is
        return f"malformed frame ({type(exc).__name__})"
    try:
        name = codec_for_id(env.payload_type).cls.__name__
    except Exception:  # unknown or system type: show the id
        name = f"{env.payload_type:#x}"
    return (f"{KIND_NAMES.get(env.kind, env.kind)} {name} {env.sender_node}:"
            f"{env.sender_path} -> {env.receiver_node}:{env.receiver_path}")


def diff_recordings(path_a: str | Path, path_b: str | Path) -> dict[str, Any]:
    """Replay two recordings; the first frame their replays send differently (index,
    step, and the last few frames of each side, described), None if they agree."""
    a = replay_recording(path_a, keep_frames=True)
    b = replay_recording(path_b, keep_frames=True)
    sa, sb = a.pop("_sent"), b.pop("_sent")
    fa, fb = a.pop("_frames"), b.pop("_frames")
    diff = first_difference(sa, sb) if len(sa) >= len(sb) else first_difference(sb, sa)
    report: dict[str, Any] = {
        "a": str(path_a), "b": str(path_b), "records_a": len(sa), "records_b": len(sb),
        "first_divergence": None if diff is None else diff["index"],
        "same_node": a["node"] == b["node"] and a["seed"] == b["seed"],
        "a_reproduced": a["reproduced"], "b_reproduced": b["reproduced"]}
    if diff is None:
        return report
    i = diff["index"]
    report["step"] = diff["step"]
    for side, rep, sent, frames in (("a", a, sa, fa), ("b", b, sb, fb)):
        lo = max(0, i - CONTEXT_FRAMES + 1)
        report[f"{side}_records"] = [
            {"index": k, "step": sent[k][0], "node": rep["node"],
             "what": f"send {describe_frame(frames[k])} ({sent[k][2]} bytes)"}
            for k in range(lo, min(i + 1, len(sent)))]
    return report


__all__ = ["FRAME_DIGEST_HEX", "Divergence", "RecordingError", "RecordingFeed",
           "diff_recordings", "is_recording", "load_recording", "replay_recording"]
