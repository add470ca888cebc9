"""The one error type of the wire layer."""

from __future__ import annotations


class WireError(Exception):
    """Input bytes (or a value to encode) violate the wire format or its limits.

    Raised for anything malformed, truncated, oversized, too deeply nested, of an unknown
    payload type or an unknown envelope kind. Whose fault it is: when decoding, the peer's
    (or a corrupted link's); the receiver must reject the frame and carry on. When
    encoding, the local caller's (a value that does not fit its schema or a limit).
    """

    def __init__(self, message: str, *, reason: str = "malformed") -> None:
        super().__init__(message)
        #: A short machine-readable category: "malformed", "oversized", "unknown_type",
        #: "unknown_kind", "encode".
        self.reason = reason


#: The name used in the issue and the design notes; the same class.
MalformedFrame = WireError
