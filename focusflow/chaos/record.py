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

It also hashes every frame the node sends out (one running hash, and a short digest per
frame). ``focusflow.chaos.record_replay.replay_recording`` runs the node again as a fed
node of the ``Simulation`` (the same runtime chaos runs and traces use; FIFO steps like
the live runtime; clock, timers, thread completions and storage reads from the
recording), runs the same boot function, injects the inputs at the same step counts,
and checks that the node sends exactly the same frames and consumes exactly the
recorded inputs: a production failure reproduced on a laptop, where ``--inspect`` shows
any actor's state at any step.

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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import blake3
import numpy as np

from focusflow.supervisor import RUNTIME_KNOBS, ActorRef, ActorSystem, Future
from focusflow.wire import encode_message

T = TypeVar("T")
RECORDING_FORMAT = "focusflow.chaos.recording.v1"
EVENTS_MAX = 10_000_000
STEPS_MAX = 100_000_000
#: Hex digits of each sent frame's own digest (``sent`` rows: step, destination, size,
#: digest), so a replay names the first frame that differs, not only the final hash.
FRAME_DIGEST_HEX = 16


def frame_digest(frame: bytes) -> str:
    """The short per-frame digest kept in a recording's ``sent`` rows."""
    return blake3.blake3(frame).hexdigest()[:FRAME_DIGEST_HEX]


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
        self.sent: list[list[Any]] = []  # [step, destination, bytes, digest] per frame

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
        self.sent.append([self.steps, dst, len(frame), frame_digest(frame)])
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
