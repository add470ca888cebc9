"""The runtime's system messages as Python types (schema: ``schemas/runtime.capnp``)."""

from __future__ import annotations

from focusflow.wire._message import Address, message
from focusflow.wire._schema import runtime_schema

_s = runtime_schema()


@message(_s.Down)
class Down:
    """A watched actor terminated (also sent for a watch set up after the death)."""

    actor: Address
    reason: str
    incarnation: int = 0


@message(_s.Exit)
class Exit:
    """A child of the receiver terminated (OTP's EXIT signal as a message)."""

    actor: Address
    reason: str
    incarnation: int = 0


@message(_s.Stop)
class Stop:
    """Ask the receiver to stop gracefully."""

    reason: str = "normal"


@message(_s.Ping)
class Ping:
    """Liveness probe; every node answers with ``Pong`` of the same ``seq``."""

    seq: int = 0


@message(_s.Pong)
class Pong:
    """Answer to ``Ping``."""

    seq: int = 0


@message(_s.Watch)
class Watch:
    """Remote death watch request, sent to the watched actor's node."""

    watcher: Address


@message(_s.Unwatch)
class Unwatch:
    """Cancels a remote ``Watch``."""

    watcher: Address


@message(_s.ErrorReply)
class ErrorReply:
    """Why an ask failed (payload of a kindError envelope)."""

    error_type: str
    message: str


@message(_s.Blob)
class Blob:
    """Opaque bytes; a generic bulk payload."""

    data: bytes
