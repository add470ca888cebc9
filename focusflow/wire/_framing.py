"""Stream framing: a 4-byte little-endian length prefix, then the frame.

A sans-IO decoder: feed it whatever bytes arrived, take the complete frames out. The
length is checked against ``frame_bytes_max`` before any buffering, so a hostile peer
cannot make us allocate more than one frame's worth; after an error the decoder stays
failed (the stream is desynchronised and must be closed).
"""

from __future__ import annotations

import struct

from focusflow.wire._errors import WireError

FRAME_HEADER_BYTES = 4
FRAME_BYTES_MAX_DEFAULT = 16 * 1024 * 1024 + 4096
_HEADER = struct.Struct("<I")


def encode_frame(data: bytes, *, frame_bytes_max: int = FRAME_BYTES_MAX_DEFAULT) -> bytes:
    """Prefix ``data`` with its length.

    Raises:
        WireError: ``data`` is longer than ``frame_bytes_max`` (reason "oversized").
    """
    if len(data) > frame_bytes_max:
        raise WireError(f"frame of {len(data)} bytes > frame_bytes_max={frame_bytes_max}",
                        reason="oversized")
    return _HEADER.pack(len(data)) + data


class FrameDecoder:
    """Reassembles length-prefixed frames from a byte stream."""

    def __init__(self, *, frame_bytes_max: int = FRAME_BYTES_MAX_DEFAULT) -> None:
        assert 0 < frame_bytes_max < 1 << 32
        self._frame_bytes_max = frame_bytes_max
        self._buffer = bytearray()
        self._failed: WireError | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every frame now complete, in order.

        Raises:
            WireError: a length prefix exceeds ``frame_bytes_max`` (now and on every later
                call: the stream cannot be resynchronised).
        """
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        frames: list[bytes] = []
        while len(self._buffer) >= FRAME_HEADER_BYTES:
            (length,) = _HEADER.unpack_from(self._buffer, 0)
            if length > self._frame_bytes_max:
                self._failed = WireError(
                    f"frame length {length} > frame_bytes_max={self._frame_bytes_max}",
                    reason="oversized",
                )
                self._buffer.clear()
                raise self._failed
            end = FRAME_HEADER_BYTES + length
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[FRAME_HEADER_BYTES:end]))
            del self._buffer[:end]
        assert len(self._buffer) < FRAME_HEADER_BYTES or len(frames) >= 0
        return frames
