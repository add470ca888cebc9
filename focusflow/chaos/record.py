"""Live to sim: record a live node's inputs, replay them deterministically.

``InputRecorder`` attaches to a live ``ActorSystem`` *before* its actors start and writes
down everything nondeterministic the node consumes, in the order it consumes it:

* frames that enter the node from outside a step (a transport's ``receive_frame``, an
  embedding program's ``tell``), with the step count at which they arrived;
* timer firings (which timer, at which step);
* completions of ``ctx.run_blocking`` calls (the step at which each completed; the work
  is pure, so the replay recomputes it);
* every clock read (``now_ns``) and every storage read's result;
* asks from the embedding program (``node.ask``: a node's HTTP API asking its validator),
  with the message, at the step they came in; their deadline timers are numbered like
  the actors' timers;
* a transport's report that a peer's connection dropped (``node.peer_down``);
* the random seed (the recorder seeds the node's RNGs, so draws are reproducible).

It also hashes every frame the node sends out. ``replay_recording`` rebuilds the node on
a deterministic replay runtime (virtual clock fed from the recording, FIFO steps like
the live runtime, a simulated disk), runs the same boot function, injects the inputs at
the same step counts, and checks that the node sends exactly the same frames and
consumes exactly the recorded inputs: a production failure reproduced on a laptop,
where ``--inspect`` shows any actor's state at any step.

``focusflow node --record FILE`` records a production node this way (boot function
``focusflow.node.app:boot_recorded``, its home as the boot argument) and ``focusflow
devnet --record DIR`` records every node; ``focusflow replay FILE`` replays one.

Limits (recorded as such): ``ctx.run_io`` and tells from the embedding program are not
recorded (a recording that sees one is marked ``unsupported``); actors must be started
by the boot function given to the recorder; the node's databases (``ctx.database``) must
be empty at the start (its first start): the replay rebuilds them from the same writes.
"""

from __future__ import annotations

import base64
import gzip
import importlib
import json
import os
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import blake3
import numpy as np

from focusflow.sim import SimDisk
from focusflow.supervisor import (
    ActorRef,
    ActorSystem,
    Database,
    Future,
    Node,
    open_image_database,
)
from focusflow.wire import decode_message, encode_message

T = TypeVar("T")
RECORDING_FORMAT = "focusflow.chaos.recording.v1"
EVENTS_MAX = 10_000_000
STEPS_MAX = 100_000_000
#: Runtime attributes the node reads (``getattr(runtime, ...)``) that change its steps.
RUNTIME_KNOBS = ("tracing", "messages_per_step")


def _resolve(target: str) -> Callable[..., None]:
    module, _, name = target.partition(":")
    fn = getattr(importlib.import_module(module), name)
    assert callable(fn), target
    return fn  # type: ignore[no-any-return]


class InputRecorder:
    """Records a live node's inputs (see the module docstring).

    ``boot`` is "module:function" taking the node (it spawns the actors, as a simulator
    boot function does). Use ``start()`` once, before the system runs anything else, and
    ``save(path)`` at the end (or at a failure).
    """

    def __init__(self, system: ActorSystem, *, boot: str, seed: int | None = None,
                 boot_args: Mapping[str, Any] | None = None) -> None:
        self.system = system
        self.boot = boot
        self.boot_args = dict(boot_args or {})  # JSON values, passed to boot by keyword
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(8), "little")
        self.events: list[list[Any]] = []
        self.clock: list[int] = []
        self.reads: list[str | None] = []
        self.steps = 0
        self.unsupported: list[str] = []
        self._in_step = False
        self._outside_ask = False  # inside node.ask from the embedding program
        self._timer_ids = 0
        self._blocking_ids = 0
        self._out = blake3.blake3(b"focusflow.chaos.outputs")
        self.outputs = 0
        self.sent: list[list[Any]] = []  # [step, destination, bytes] per frame sent

    def start(self) -> None:
        """Patch the live runtime, seed its RNGs, and boot the actors."""
        runtime = self.system.runtime
        node = self.system.node
        assert node.actor_count() == 0, "attach the recorder before spawning actors"
        runtime._random = random.Random(self.seed)
        runtime._np_random = np.random.default_rng(self.seed)
        orig_schedule, orig_later = runtime.schedule, runtime.call_later
        orig_now, orig_send = runtime.now_ns, runtime.send_remote
        orig_storage, orig_receive = runtime._storage, node._receive_frame
        orig_blocking = getattr(runtime, "run_blocking", None)
        orig_ask, orig_peer_down, orig_tell = node.ask, node.peer_down, node.tell

        def schedule(step: Callable[[], None]) -> None:
            orig_schedule(lambda: self._run(step))

        def call_later(delay_ns: int, fn: Callable[[], None]) -> Any:
            if not self._in_step and not self._outside_ask:
                self.unsupported.append("timer armed outside a step and outside an ask")
                return orig_later(delay_ns, fn)
            self._timer_ids += 1
            tid = self._timer_ids
            return orig_later(delay_ns, lambda: self._fire(tid, fn))

        def now_ns() -> int:
            value = orig_now()
            self.clock.append(value)
            return value

        def send_remote(dst: str, frame: bytes) -> None:
            self._output(dst, frame)
            orig_send(dst, frame)

        def receive(frame: bytes, local: bool, wait: bool, *more: Any, **kw: Any) -> Future[None]:
            if not self._in_step and not self._outside_ask:  # an ask's frame: its "A" event
                assert len(self.events) < EVENTS_MAX
                self.events.append(["F", self.steps, base64.b64encode(frame).decode()])
            return orig_receive(frame, local, wait, *more, **kw)

        def receive_batch(frames: list[bytes]) -> None:
            # A transport's batch (LoopbackNetwork) would be admitted by the template
            # path without passing ``_receive_frame``: here every frame goes through the
            # recorded entry, one by one, which is what the batch means.
            for frame in frames:
                node.receive_frame(frame)

        def run_blocking(fn: Callable[..., T], *args: Any) -> Future[T]:
            assert orig_blocking is not None
            self._blocking_ids += 1
            bid = self._blocking_ids
            out: Future[T] = Future()

            def done(inner: Future[T]) -> None:  # completes outside any step: an input
                self.events.append(["B", self.steps, bid])
                exc = inner.exception()
                if exc is not None:
                    out.set_exception(exc)
                else:
                    out.set_result(inner.result())

            orig_blocking(fn, *args).add_done_callback(done)
            return out

        def ask(ref: ActorRef, msg: Any, *, timeout_ms: int = 5_000) -> Future[Any]:
            type_id, data = encode_message(msg)
            self.events.append(["A", self.steps, ref.node, ref.path, type_id,
                                base64.b64encode(data).decode(), timeout_ms])
            self._outside_ask = True
            try:
                return orig_ask(ref, msg, timeout_ms=timeout_ms)
            finally:
                self._outside_ask = False

        def peer_down(name: str) -> None:
            self.events.append(["P", self.steps, name])
            orig_peer_down(name)

        def tell(ref: ActorRef, msg: Any) -> Future[None]:
            self.unsupported.append("a tell from the embedding program")
            return orig_tell(ref, msg)

        if orig_blocking is not None:
            runtime.run_blocking = run_blocking  # type: ignore[method-assign]
        node.ask = ask  # type: ignore[method-assign]
        node.peer_down = peer_down  # type: ignore[method-assign,assignment]
        node.tell = tell  # type: ignore[method-assign]
        runtime.schedule = schedule  # type: ignore[method-assign]
        # runtime.schedule_input stays as it is: a transport's delivery (LoopbackNetwork
        # batches) is not a step of this node; its frames are recorded by ``receive``.
        runtime.call_later = call_later  # type: ignore[method-assign]
        runtime.now_ns = now_ns  # type: ignore[method-assign]
        node._now_ns = now_ns  # the node keeps the runtime's clock bound (its hot path)
        runtime.send_remote = send_remote  # type: ignore[method-assign,assignment]
        runtime._storage = _RecordingStorage(orig_storage, self.reads)
        node._receive_frame = receive  # type: ignore[method-assign,assignment]
        node.receive_frames = receive_batch  # type: ignore[method-assign]
        _resolve(self.boot)(node, **self.boot_args)

    def _run(self, step: Callable[[], None]) -> None:
        assert self.steps < STEPS_MAX
        self.steps += 1
        self._in_step = True
        try:
            step()
        finally:
            self._in_step = False

    def _fire(self, tid: int, fn: Callable[[], None]) -> None:
        self.events.append(["T", self.steps, tid])
        self._run(fn)

    def _output(self, dst: str, frame: bytes) -> None:
        self.outputs += 1
        self.sent.append([self.steps, dst, len(frame)])
        self._out.update(dst.encode() + b"\0" + len(frame).to_bytes(4, "little") + frame)

    def document(self) -> dict[str, Any]:
        """The recording as a JSON-ready document."""
        return {"format": RECORDING_FORMAT, "node": self.system.name, "boot": self.boot,
                "boot_args": self.boot_args, "seed": self.seed, "steps": self.steps,
                "knobs": {k: getattr(self.system.runtime, k) for k in RUNTIME_KNOBS
                          if hasattr(self.system.runtime, k)}, "events": self.events,
                "clock": self.clock, "reads": self.reads, "outputs": self.outputs,
                "sent": self.sent,
                "outputs_hash": self._out.hexdigest(), "unsupported": self.unsupported}

    def save(self, path: str | Path) -> Path:
        """Write the recording (gzip'd JSON)."""
        out = Path(path)
        with gzip.open(out, "wt", encoding="utf-8") as fh:
            json.dump(self.document(), fh, separators=(",", ":"))
        return out


class _RecordingStorage:
    """Storage wrapper that writes down every read's result (reads are inputs)."""

    def __init__(self, inner: Any, reads: list[str | None]) -> None:
        self._inner = inner
        self._reads = reads

    def read(self, key: str) -> Future[bytes | None]:
        fut: Future[bytes | None] = self._inner.read(key)
        value = fut.result() if fut.done() else None
        self._reads.append(None if value is None else base64.b64encode(value).decode())
        return fut

    def write(self, key: str, data: bytes) -> Future[None]:
        return self._inner.write(key, data)  # type: ignore[no-any-return]

    def delete(self, key: str) -> Future[None]:
        return self._inner.delete(key)  # type: ignore[no-any-return]

    def sync(self) -> Future[None]:
        return self._inner.sync()  # type: ignore[no-any-return]

    def keys(self, prefix: str = "") -> list[str]:
        return self._inner.keys(prefix)  # type: ignore[no-any-return]


# ============================================================================ replay
class Divergence(AssertionError):
    """The replay consumed or produced something the recording does not have."""


class _NullLog:
    def bind(self, **_kw: Any) -> _NullLog:
        return self

    def _drop(self, *_a: Any, **_kw: Any) -> None:
        return None

    debug = info = warning = error = exception = critical = msg = _drop


class _Handle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _ReplayStorage(SimDisk):
    """A simulated disk whose reads return the recorded results."""

    def __init__(self, reads: list[str | None]) -> None:
        super().__init__()
        self._reads = deque(reads)

    def read(self, key: str) -> Future[bytes | None]:
        if not self._reads:
            raise Divergence(f"replay read {key!r} beyond the recorded reads")
        value = self._reads.popleft()
        return Future.completed(None if value is None else base64.b64decode(value))


class ReplayRuntime:
    """``Runtime`` fed from a recording: recorded clock, recorded reads, FIFO steps."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.node_name = str(doc["node"])
        # Mirror the live runtime's knobs (whether the node writes trace records, which
        # read the clock; how many messages a step handles): they shape the steps.
        for knob, value in doc.get("knobs", {}).items():
            assert knob in RUNTIME_KNOBS, knob
            setattr(self, knob, value)
        self._clock = deque(int(t) for t in doc["clock"])
        self._random = random.Random(int(doc["seed"]))
        self._np_random = np.random.default_rng(int(doc["seed"]))
        self._storage = _ReplayStorage(list(doc["reads"]))
        self._db_disk = SimDisk()
        self.ready: deque[Callable[[], None]] = deque()
        self.timers: dict[int, Callable[[], None]] = {}
        self._timer_ids = 0
        #: run_blocking calls: id -> (future, thunk that completes it).
        self.blocking: dict[int, Callable[[], None]] = {}
        self._blocking_ids = 0
        self.in_step = False
        self.step = 0  # steps run so far (``_drive``)
        self._out = blake3.blake3(b"focusflow.chaos.outputs")
        self.outputs = 0
        self.sent: list[list[Any]] = []  # [step, destination, bytes] per frame sent
        self.last_now_ns = int(doc["clock"][0]) if doc["clock"] else 0

    def now_ns(self) -> int:
        if not self._clock:
            raise Divergence("replay read the clock more often than the live node did")
        self.last_now_ns = self._clock.popleft()
        return self.last_now_ns

    @property
    def random(self) -> random.Random:
        return self._random

    @property
    def np_random(self) -> np.random.Generator:
        return self._np_random

    def schedule(self, step: Callable[[], None]) -> None:
        self.ready.append(step)

    def call_later(self, delay_ns: int, fn: Callable[[], None]) -> _Handle:
        assert delay_ns >= 0
        if self.in_step:
            self._timer_ids += 1
            self.timers[self._timer_ids] = fn
        return _Handle()

    def send_remote(self, node: str, frame: bytes) -> None:
        self.outputs += 1
        self.sent.append([self.step, node, len(frame)])
        self._out.update(node.encode() + b"\0" + len(frame).to_bytes(4, "little") + frame)

    def outputs_hash(self) -> str:
        return self._out.hexdigest()

    def record(self, event: bytes) -> None:
        return None

    def storage(self) -> SimDisk:
        return self._storage

    def database(self, name: str) -> Database:
        """An image database on a simulated disk of its own that starts empty, as the live
        node's database files did (a recording starts from an empty data dir). Its reads
        are not inputs: the same writes give the same rows, so it never consumes the
        recorded storage reads (the live SQLite files never read through storage)."""
        return open_image_database(self._db_disk, name)

    def bridge(self, fut: Future[T]) -> Awaitable[T]:
        return fut

    def spawn_io(self, fn: Callable[[], Awaitable[T]]) -> Future[T]:
        raise Divergence("ctx.run_io is not recorded; it cannot be replayed")

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Pure work: computed now, completed at the step the recording says it did."""
        self._blocking_ids += 1
        fut: Future[T] = Future()
        try:
            value = fn(*args)
        except Exception as exc:
            failed: BaseException = exc
            self.blocking[self._blocking_ids] = lambda: fut.set_exception(failed)
        else:
            self.blocking[self._blocking_ids] = lambda: fut.set_result(value)
        return fut

    def logger(self) -> Any:
        return _NullLog()


def is_recording(path: str | Path) -> bool:
    """Whether ``path`` is a live-input recording (not a chaos trace)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            head = fh.read(64)
    except (OSError, EOFError):
        return False
    return RECORDING_FORMAT in head


def load_recording(path: str | Path) -> dict[str, Any]:
    """Read a recording file.

    Raises:
        ValueError: not a recording of this format.
    """
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        doc = json.load(fh)
    if not isinstance(doc, dict) or doc.get("format") != RECORDING_FORMAT:
        raise ValueError(f"{path}: not a {RECORDING_FORMAT} file")
    return doc


def replay_recording(path: str | Path, *, until_step: int | None = None,
                     inspect: str | None = None) -> dict[str, Any]:
    """Re-execute a recording; report whether it reproduced (JSON-ready).

    Reproduced means: the same number of steps, every recorded input consumed at its
    recorded step, every clock read and storage read matched, and the same frames sent.
    """
    doc = load_recording(path)
    runtime = ReplayRuntime(doc)
    node = Node(runtime)
    _resolve(str(doc["boot"]))(node, **dict(doc.get("boot_args") or {}))
    events = deque(doc["events"])
    recorded = int(doc["steps"])
    stop = recorded if until_step is None else min(until_step, recorded)
    steps, error = _drive(runtime, node, events, stop)
    finished = steps == recorded
    if finished and error is None:  # inputs after the last step (the stop's disconnects)
        while events and events[0][0] in "FAP" and events[0][1] == steps:
            _inject(runtime, node, events.popleft())
    reproduced = error is None and steps == stop and (not finished or (
        not events and not runtime._clock and runtime.outputs_hash() == doc["outputs_hash"]))
    report: dict[str, Any] = {
        "trace": str(path), "node": doc["node"], "seed": doc["seed"], "reproduced": reproduced,
        "finished": finished, "stopped_at_step": steps, "recorded_steps": doc["steps"],
        "t_ms": runtime.last_now_ns / 1e6, "records_compared": steps,
        "first_mismatch": None if error is None else steps, "error": error,
        "outputs": runtime.outputs, "recorded_outputs": doc["outputs"],
        "first_output_difference": _first_difference(runtime.sent, doc.get("sent")),
        "inputs_left": len(events), "clock_reads_left": len(runtime._clock),
        "outputs_hash_equal": runtime.outputs_hash() == doc["outputs_hash"],
        "unsupported": doc["unsupported"], "violations": [],
    }
    if inspect is not None:
        report["inspect"] = _inspect(node, inspect)
    return report


def _drive(runtime: ReplayRuntime, node: Node, events: deque[list[Any]],
           until_step: int) -> tuple[int, str | None]:
    steps = 0
    try:
        while steps < until_step:
            head = events[0] if events else None
            if head is not None and head[1] == steps and head[0] in "FAP":
                _inject(runtime, node, events.popleft())
                continue
            if head is not None and head[1] == steps and head[0] == "B":
                events.popleft()
                complete = runtime.blocking.pop(int(head[2]), None)
                if complete is None:
                    raise Divergence(f"blocking call {head[2]} completed live at step "
                                     f"{steps} but was never made in the replay")
                complete()
                continue
            if head is not None and head[1] == steps and head[0] == "T":
                events.popleft()
                fn = runtime.timers.pop(int(head[2]), None)
                if fn is None:
                    raise Divergence(f"timer {head[2]} fired live at step {steps} but was "
                                     "never armed in the replay")
            elif runtime.ready:
                fn = runtime.ready.popleft()
            elif head is not None:
                raise Divergence(f"nothing runnable at step {steps}, recording expects "
                                 f"{head[0]} at step {head[1]}")
            else:
                break
            steps += 1
            runtime.step = steps
            runtime.in_step = True
            try:
                fn()
            finally:
                runtime.in_step = False
    except Divergence as exc:
        return steps, str(exc)
    return steps, None


def _inject(runtime: ReplayRuntime, node: Node, event: list[Any]) -> None:
    """An input that came between two steps: a frame, an ask of the embedding program,
    a dropped peer connection."""
    kind = event[0]
    if kind == "F":
        node._receive_frame(base64.b64decode(event[2]), local=False, wait=False)
    elif kind == "A":
        _, _, to_node, to_path, type_id, data, timeout_ms = event
        msg = decode_message(int(type_id), base64.b64decode(data))
        runtime.in_step = True  # its deadline timer is numbered as the live one was
        try:
            node.ask(node.ref(str(to_node), str(to_path)), msg, timeout_ms=int(timeout_ms))
        finally:
            runtime.in_step = False
    else:
        assert kind == "P", kind
        node.peer_down(str(event[2]))


def _first_difference(replayed: list[list[Any]], recorded: list[list[Any]] | None,
                      ) -> dict[str, Any] | None:
    """The first frame sent differently ([step, destination, bytes]), or None."""
    if recorded is None:
        return None
    for i, (a, b) in enumerate(zip(replayed, recorded, strict=False)):
        if list(a) != list(b):
            return {"index": i, "replayed": a, "recorded": b}
    if len(replayed) != len(recorded):
        i = min(len(replayed), len(recorded))
        return {"index": i, "replayed": replayed[i] if i < len(replayed) else None,
                "recorded": recorded[i] if i < len(recorded) else None}
    return None


def _inspect(node: Node, name: str) -> dict[str, Any]:
    _, _, path = name.partition(":")
    cell = node._cells.get(path or name)
    if cell is None or cell.actor is None:
        return {"actor": name, "alive": False, "actors": sorted(node._cells)}
    state = {k: repr(v)[:400] for k, v in sorted(vars(cell.actor).items()) if k != "ctx"}
    return {"actor": name, "alive": True, "class": type(cell.actor).__name__, "state": state}
