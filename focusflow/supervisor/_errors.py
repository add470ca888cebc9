"""Errors of the actor runtime. Each says whose fault it is."""

from __future__ import annotations


class ActorError(Exception):
    """Base class of every runtime error an actor or an embedding program can see."""


class AskError(ActorError):
    """An ask did not get a successful answer."""


class AskTimeout(AskError, TimeoutError):
    """No answer within ``timeout_ms``: the receiver is slow, dead, or the link lost it."""


class ActorNotFound(AskError):
    """No live actor at the address ("noproc"): it never existed or already terminated."""


class ActorCrashed(AskError):
    """The receiver raised while handling the ask; it has crashed (its supervisor decides)."""

    def __init__(self, message: str, *, error_type: str = "ActorCrashed") -> None:
        super().__init__(message)
        self.error_type = error_type


class MailboxFull(ActorError):
    """The receiver's mailbox holds ``mailbox_depth_max`` messages (overload: back off).

    Raised by ``tell_nowait`` for local senders (``tell`` waits instead), and returned to
    remote askers when the receiver's overflow policy is "reject".
    """


class ActorStartError(ActorError):
    """An actor's ``on_start`` raised, so it never ran (a supervisor's child failed to start)."""


class NotInActor(ActorError):
    """An operation that needs a current actor (``ctx``) ran outside one."""
