"""The runtime's own future: what actor code awaits in both runtimes.

Actor coroutines are driven by a trampoline (``Node._drive``) that calls
``coro.send(...)``. Awaiting a ``Future`` that is not done yields the future itself to
the trampoline, which resumes the coroutine when the future completes. No event loop is
involved, which is what makes the simulator deterministic and the live runtime cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_PENDING = 0
_DONE = 1


class Future(Generic[T]):
    """A single-assignment result slot with completion callbacks (not thread-safe).

    Callbacks run synchronously on the scheduler's thread when the result is set; they
    must only schedule work, never run actor code.
    """

    __slots__ = ("_callbacks", "_exc", "_result", "_state")

    def __init__(self) -> None:
        self._state = _PENDING
        self._result: Any = None
        self._exc: BaseException | None = None
        self._callbacks: list[Callable[[Future[T]], None]] | None = None

    @classmethod
    def completed(cls, value: T) -> Future[T]:
        """A future that is already done with ``value``."""
        fut: Future[T] = cls()
        fut._state = _DONE
        fut._result = value
        return fut

    def done(self) -> bool:
        """Whether a result or an exception has been set."""
        return self._state == _DONE

    def result(self) -> T:
        """The result; raises the stored exception, or RuntimeError if still pending."""
        if self._state != _DONE:
            raise RuntimeError("future is not done")
        if self._exc is not None:
            raise self._exc
        return self._result  # type: ignore[no-any-return]

    def exception(self) -> BaseException | None:
        """The stored exception (None on success); RuntimeError if still pending."""
        if self._state != _DONE:
            raise RuntimeError("future is not done")
        return self._exc

    def set_result(self, value: T) -> None:
        """Complete with ``value``; a second completion is a bug (AssertionError)."""
        assert self._state == _PENDING, "future already completed"
        self._result = value
        self._state = _DONE
        self._fire()

    def set_exception(self, exc: BaseException) -> None:
        """Complete with an exception that awaiters will see raised."""
        assert self._state == _PENDING, "future already completed"
        assert isinstance(exc, BaseException)
        self._exc = exc
        self._state = _DONE
        self._fire()

    def try_set_result(self, value: T) -> bool:
        """Complete unless already done; return whether this call completed it."""
        if self._state == _DONE:
            return False
        self.set_result(value)
        return True

    def try_set_exception(self, exc: BaseException) -> bool:
        """Fail unless already done; return whether this call completed it."""
        if self._state == _DONE:
            return False
        self.set_exception(exc)
        return True

    def add_done_callback(self, fn: Callable[[Future[T]], None]) -> None:
        """Call ``fn(self)`` on completion (immediately if already done)."""
        if self._state == _DONE:
            fn(self)
            return
        if self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)

    def _fire(self) -> None:
        callbacks, self._callbacks = self._callbacks, None
        if callbacks:
            for fn in callbacks:
                fn(self)

    def __await__(self) -> Generator[Any, Any, T]:
        if self._state == _DONE and self._result is None and self._exc is None:
            # Done with None (every tell that found room): an exhausted iterator ends the
            # await at once, without making and running a generator (the hot path).
            return _FINISHED  # type: ignore[return-value]
        return self._wait()

    def _wait(self) -> Generator[Any, Any, T]:
        if self._state != _DONE:
            yield self
        assert self._state == _DONE, "a coroutine was resumed before its future completed"
        return self.result()

    def __repr__(self) -> str:
        state = "pending" if self._state == _PENDING else ("failed" if self._exc else "done")
        return f"<Future {state}>"


#: An exhausted iterator: awaiting it returns None at once (shared; it holds no state).
_FINISHED = iter(())
