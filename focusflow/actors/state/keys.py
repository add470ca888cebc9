"""Key paths of the three keyspaces, all under one tree root.

``/graph/link/<neuron 20><from 36><to 36>`` -> u64 LE height the link was made
``/graph/count/<neuron 20>``                 -> u64 LE number of links of the neuron
``/graph/pi/<shard u32 BE>``                 -> focus slice (see :func:`encode_focus_slice`)
``/token/balance/<address 20>``              -> u64 LE balance
``/token/nonce/<address 20>``                -> u64 LE next nonce
``/token/econ/...``                          -> the economics core's ledger and state
                                                (``economics.kvledger``, ``economics.onchain``)
``/kv/<any bytes>``                          -> metadata / blob

Binary fixed-width components keep key paths unambiguous without escaping.
"""

from __future__ import annotations

import numpy as np

from focusflow.actors.state.ids import ADDRESS_LEN, CID_LEN

LINK = b"/graph/link/"
COUNT = b"/graph/count/"
PI = b"/graph/pi/"
BALANCE = b"/token/balance/"
NONCE = b"/token/nonce/"
TOKEN_ECON = b"/token/econ/"
KV = b"/kv/"
keypath_bytes_max = 256
LINK_KEY_LEN = len(LINK) + ADDRESS_LEN + 2 * CID_LEN


def link_key(neuron: bytes, src: bytes, dst: bytes) -> bytes:
    assert len(neuron) == ADDRESS_LEN and len(src) == CID_LEN and len(dst) == CID_LEN
    return LINK + neuron + src + dst


def parse_link_key(key: bytes) -> tuple[bytes, bytes, bytes]:
    """(neuron, from, to) of a link key path."""
    assert key.startswith(LINK) and len(key) == LINK_KEY_LEN
    off = len(LINK)
    return (
        key[off : off + ADDRESS_LEN],
        key[off + ADDRESS_LEN : off + ADDRESS_LEN + CID_LEN],
        key[off + ADDRESS_LEN + CID_LEN :],
    )


def link_keys(neuron: bytes, froms: np.ndarray, tos: np.ndarray) -> list[bytes]:
    """Key paths of a batch of links by one neuron, built with one numpy concatenation."""
    n = froms.shape[0]
    head = np.frombuffer(LINK + neuron, dtype=np.uint8)
    rows = np.concatenate([np.broadcast_to(head, (n, head.size)), froms, tos], axis=1)
    flat = np.ascontiguousarray(rows).tobytes()
    return [flat[i * LINK_KEY_LEN : (i + 1) * LINK_KEY_LEN] for i in range(n)]


def count_key(neuron: bytes) -> bytes:
    return COUNT + neuron


def balance_key(address: bytes) -> bytes:
    return BALANCE + address


def nonce_key(address: bytes) -> bytes:
    return NONCE + address


def pi_key(shard: int) -> bytes:
    return PI + shard.to_bytes(4, "big")


def kv_key(name: bytes) -> bytes:
    return KV + name


def u64(value: int) -> bytes:
    assert 0 <= value < 2**64
    return value.to_bytes(8, "little")


def read_u64(raw: bytes | None) -> int:
    return 0 if raw is None else int.from_bytes(raw, "little")


def encode_focus_slice(cids: np.ndarray, values: np.ndarray) -> bytes:
    """u32 count, then the sorted (n, 36) CIDs, then n u64 LE fixed-point focus values."""
    assert cids.ndim == 2 and cids.shape[1] == CID_LEN and values.shape == (cids.shape[0],)
    order = np.lexsort(cids.T[::-1])
    sorted_cids = np.ascontiguousarray(cids[order], dtype=np.uint8)
    vals = np.ascontiguousarray(values[order], dtype="<u8")
    return len(order).to_bytes(4, "little") + sorted_cids.tobytes() + vals.tobytes()


def decode_focus_slice(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(sorted (n, 36) uint8 CIDs, n uint64 values) of an encoded focus slice.

    Raises:
        ValueError: the bytes are not one encoded slice (wrong length, CIDs not strictly
            sorted): whoever handed them over is at fault.
    """
    if len(raw) < 4:
        raise ValueError(f"focus slice of {len(raw)} bytes has no count")
    n = int.from_bytes(raw[:4], "little")
    if len(raw) != 4 + n * (CID_LEN + 8):
        raise ValueError(f"focus slice of {len(raw)} bytes does not hold {n} entries")
    cids = np.frombuffer(raw, dtype=np.uint8, count=n * CID_LEN, offset=4).reshape(n, CID_LEN)
    vals = np.frombuffer(raw, dtype="<u8", count=n, offset=4 + n * CID_LEN).astype(np.uint64)
    keys = np.frombuffer(raw, dtype=f"S{CID_LEN}", count=n, offset=4)  # as focus_in_slice
    if n > 1 and not bool(np.all(keys[1:] > keys[:-1])):
        raise ValueError("focus slice CIDs are not strictly sorted")
    assert vals.shape == (n,) and cids.shape == (n, CID_LEN)
    return cids, vals


def focus_in_slice(raw: bytes, cid: bytes) -> int | None:
    """Binary search one CID in an encoded focus slice; None when it is not there."""
    n = int.from_bytes(raw[:4], "little")
    cids = np.frombuffer(raw, dtype=f"S{CID_LEN}", count=n, offset=4)
    # 'S36' compares bytewise with NUL padding; both sides are exactly 36 bytes, so this is
    # exact equality even for CIDs that end in NUL bytes.
    needle = np.array([cid], dtype=f"S{CID_LEN}")
    pos = int(np.searchsorted(cids, needle)[0])
    if pos < n and bool(cids[pos : pos + 1] == needle):
        vals = np.frombuffer(raw, dtype="<u8", count=n, offset=4 + n * CID_LEN)
        return int(vals[pos])
    return None
