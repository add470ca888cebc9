"""Shares and namespaces: how a block's blobs become a k x k square of 512-byte shares.

A namespace is 29 bytes: a version byte and 28 id bytes (Celestia's layout). focusflow
namespaces are version 0 with a 4-byte keyspace tag and a 24-byte BLAKE3 digest of the
bucket name, so every semantic bucket and every rollup gets its own namespace and the
pinning policy can tell ``/graph`` data from the rest by the tag alone.

A share is ``namespace || info byte || [sequence length, u32 BE, first share only] || data``
zero-padded to 512 bytes; the info byte is ``version << 1 | sequence_start``. This is
Celestia's sparse-share layout; Celestia's compact (transaction) shares and its
non-interactive blob alignment rules are not implemented (blobs are packed back to back).
Unused cells of the square hold *tail padding* shares (namespace ``ff..fe``), byte for
byte Celestia's, so an empty block has Celestia's minimum data root in SHA-256 mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import blake3
import numpy as np
import numpy.typing as npt

from focusflow.actors.da.erasure import k_max

__all__ = [
    "NAMESPACE_SIZE",
    "PARITY_NAMESPACE",
    "SHARE_SIZE",
    "TAIL_PADDING_NAMESPACE",
    "TAIL_PADDING_SHARE",
    "Blob",
    "SquareFullError",
    "build_square",
    "graph_namespace",
    "is_graph_namespace",
    "make_namespace",
    "parse_shares",
    "rollup_namespace",
    "split_blob",
    "square_width_for",
]

SHARE_SIZE = 512
NAMESPACE_SIZE = 29
NAMESPACE_ID_SIZE = 28
SHARE_VERSION = 0
#: Reserved: parity shares (all 0xFF); ignored when computing a node's max namespace.
PARITY_NAMESPACE = b"\xff" * NAMESPACE_SIZE
#: Reserved: the padding after the last blob (Celestia's value).
TAIL_PADDING_NAMESPACE = b"\xff" * (NAMESPACE_SIZE - 1) + b"\xfe"
TAIL_PADDING_SHARE = TAIL_PADDING_NAMESPACE + b"\x01" + b"\x00" * (SHARE_SIZE - NAMESPACE_SIZE - 1)

GRAPH_TAG = b"grph"
ROLLUP_TAG = b"roll"
BLAKE3_NAMESPACE_CONTEXT = "focusflow 2026-11 da namespace id v1"
#: Payload bytes of a first share (after namespace, info byte and the 4-byte length).
FIRST_SHARE_PAYLOAD = SHARE_SIZE - NAMESPACE_SIZE - 1 - 4
#: Payload bytes of a continuation share.
CONTINUATION_SHARE_PAYLOAD = SHARE_SIZE - NAMESPACE_SIZE - 1
#: Largest blob: a u32 length, and it must fit in a 128 x 128 square anyway.
blob_bytes_max = k_max * k_max * CONTINUATION_SHARE_PAYLOAD

Blob = tuple[bytes, bytes]
"""``(namespace, data)``."""


class SquareFullError(ValueError):
    """The blobs need more than ``k_max * k_max`` shares (the block producer's fault)."""


def make_namespace(tag: bytes, name: bytes | str) -> bytes:
    """Version-0 namespace: 4-byte keyspace tag + BLAKE3(name)[:24]."""
    if len(tag) != 4:
        raise ValueError("namespace tag must be 4 bytes")
    raw = name.encode() if isinstance(name, str) else bytes(name)
    digest = blake3.blake3(raw, derive_key_context=BLAKE3_NAMESPACE_CONTEXT).digest(length=24)
    ns = b"\x00" + tag + digest
    assert len(ns) == NAMESPACE_SIZE
    return ns


def graph_namespace(bucket: bytes | str) -> bytes:
    """Namespace of a ``/graph`` semantic bucket (pinned by the pinning policy)."""
    return make_namespace(GRAPH_TAG, bucket)


def rollup_namespace(rollup: bytes | str) -> bytes:
    """Namespace of a rollup's data."""
    return make_namespace(ROLLUP_TAG, rollup)


def is_graph_namespace(namespace: bytes) -> bool:
    """True for namespaces made by :func:`graph_namespace`."""
    return len(namespace) == NAMESPACE_SIZE and namespace[0] == 0 and namespace[1:5] == GRAPH_TAG


def _check_user_namespace(namespace: bytes) -> None:
    if len(namespace) != NAMESPACE_SIZE:
        raise ValueError(f"namespace must be {NAMESPACE_SIZE} bytes, got {len(namespace)}")
    if namespace in (PARITY_NAMESPACE, TAIL_PADDING_NAMESPACE):
        raise ValueError("reserved namespace cannot carry a blob")


def split_blob(namespace: bytes, data: bytes) -> list[bytes]:
    """The shares of one blob (at least one, even for empty data)."""
    _check_user_namespace(namespace)
    if len(data) > blob_bytes_max:
        raise SquareFullError(f"blob of {len(data)} bytes exceeds {blob_bytes_max}")
    shares: list[bytes] = []
    first = data[:FIRST_SHARE_PAYLOAD]
    head = namespace + bytes([SHARE_VERSION << 1 | 1]) + len(data).to_bytes(4, "big") + first
    shares.append(head.ljust(SHARE_SIZE, b"\x00"))
    info = bytes([SHARE_VERSION << 1])
    for offset in range(FIRST_SHARE_PAYLOAD, len(data), CONTINUATION_SHARE_PAYLOAD):
        chunk = data[offset : offset + CONTINUATION_SHARE_PAYLOAD]
        shares.append((namespace + info + chunk).ljust(SHARE_SIZE, b"\x00"))
    return shares


def parse_shares(shares: Sequence[bytes]) -> list[Blob]:
    """Blobs back from original shares (tail padding skipped). Raises ValueError if malformed."""
    blobs: list[Blob] = []
    i = 0
    while i < len(shares):
        share = shares[i]
        ns = share[:NAMESPACE_SIZE]
        if ns == TAIL_PADDING_NAMESPACE:
            i += 1
            continue
        if not share[NAMESPACE_SIZE] & 1:
            raise ValueError(f"share {i} continues a sequence that never started")
        length = int.from_bytes(share[NAMESPACE_SIZE + 1 : NAMESPACE_SIZE + 5], "big")
        body = bytearray(share[NAMESPACE_SIZE + 5 :])
        i += 1
        while len(body) < length:
            if i >= len(shares) or shares[i][:NAMESPACE_SIZE] != ns:
                raise ValueError("blob sequence is truncated")
            body += shares[i][NAMESPACE_SIZE + 1 :]
            i += 1
        blobs.append((ns, bytes(body[:length])))
    return blobs


def square_width_for(share_count: int) -> int:
    """Smallest power-of-two k with k*k >= share_count. Raises SquareFullError past k_max."""
    k = 1
    while k * k < share_count:
        k *= 2
    if k > k_max:
        raise SquareFullError(f"{share_count} shares need a {k}x{k} square; max is {k_max}")
    return k


def build_square(blobs: Sequence[Blob], *, min_width: int = 1) -> npt.NDArray[np.uint8]:
    """The original k x k square (k, k, 512): blobs sorted by namespace, then tail padding."""
    ordered = sorted(blobs, key=lambda blob: blob[0])  # stable: same-namespace blobs keep order
    shares: list[bytes] = []
    for namespace, data in ordered:
        shares.extend(split_blob(namespace, data))
    k = max(square_width_for(len(shares)), min_width)
    if k > k_max or k & (k - 1):
        raise SquareFullError(f"square width {k} must be a power of two <= {k_max}")
    shares.extend([TAIL_PADDING_SHARE] * (k * k - len(shares)))
    square = np.frombuffer(b"".join(shares), dtype=np.uint8).reshape(k, k, SHARE_SIZE)
    return square.copy()
