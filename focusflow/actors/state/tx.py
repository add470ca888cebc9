"""Signed transactions: Cap'n Proto body bytes + Ed25519 signature + public key.

The signature covers the exact body bytes that travel (``SignedTx.body``), never a
re-encoded struct, so two encoders can never disagree about what was signed. Decoding
applies Cap'n Proto traversal and nesting limits and every field is length-checked before
anything else looks at it. Checks that need no state live here (:func:`decode_tx`,
:func:`verify_signatures`); checks against the state (nonce, balance, duplicate links,
expiry against the block height) live in :mod:`.core`.

:func:`verify_signatures` is a pure function over a batch. PyNaCl calls libsodium through
cffi, which releases the GIL, so the actor shell can split a batch over a thread pool it
gets from the runtime and the event loop never stalls on signature checks.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import capnp
import numpy as np

from focusflow.actors.state.ids import (
    ADDRESS_LEN,
    CID_LEN,
    CID_PREFIX,
    PUBKEY_LEN,
    SIGNATURE_LEN,
    Neuron,
    address_of,
)
from focusflow.limits import LINKS_PER_TX_MAX, TX_BYTES_MAX
from focusflow.memo import BoundedMemo
from focusflow.signatures import verify_detached
from focusflow.wire import load_schema

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "wire" / "schemas" / "state.capnp"


# Loaded through the wire's cache: pycapnp aborts on a second load of the same file id.
schema: Any = load_schema(SCHEMA_PATH)

chain_id_bytes_max = 64
nesting_limit_max = 8
_TX_HASH_CONTEXT = "focusflow 2026 tx hash v1"


class Reject(enum.Enum):
    """Why a transaction was refused. Every reason leaves the state untouched."""

    MALFORMED = "malformed"  # not a decodable SignedTx/TxBody, or a field of wrong size
    OVERSIZED = "oversized"  # bytes or link count above the named maxima
    WRONG_CHAIN = "wrong_chain"  # chain id differs: replay from another network
    BAD_SIGNATURE = "bad_signature"  # signature does not verify over the body bytes
    ADDRESS_MISMATCH = "address_mismatch"  # public key does not derive the neuron address
    EXPIRED = "expired"  # block height above the tx's expiry height
    REPLAYED = "replayed"  # nonce below the account's next nonce (already used)
    NONCE_GAP = "nonce_gap"  # nonce above the account's next nonce
    FEE_TOO_LOW = "fee_too_low"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    INVALID_CID = "invalid_cid"  # a particle that is not CIDv1 raw/BLAKE3-256
    DUPLICATE_LINK = "duplicate_link"  # link exists already, or twice in the batch
    UNKNOWN_LINK = "unknown_link"  # unlink of a link this neuron never made
    EMPTY_BATCH = "empty_batch"
    SELF_LINK = "self_link"  # from == to
    DUPLICATE_TX = "duplicate_tx"  # the same signed bytes twice in one block


class TxKind(enum.Enum):
    LINK = "link"
    UNLINK = "unlink"
    TRANSFER = "transfer"


class TxRejected(Exception):
    """Raised by stateless checks; carries the reason and a human detail (remote's fault)."""

    def __init__(self, reason: Reject, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Tx:
    """A decoded, size-checked transaction (signature not yet verified)."""

    tx_hash: bytes
    body: bytes
    signature: bytes
    public_key: bytes
    chain_id: str
    neuron: bytes
    nonce: int
    fee: int
    expiry_height: int
    kind: TxKind
    froms: np.ndarray  # (n, 36) uint8, empty for transfers
    tos: np.ndarray
    to: bytes  # transfer recipient, b"" for link batches
    amount: int

    @property
    def n_links(self) -> int:
        return int(self.froms.shape[0])


def _links_array(raw: bytes, what: str, per_link_checks: bool = True) -> np.ndarray:
    if len(raw) % CID_LEN:
        raise TxRejected(Reject.MALFORMED, f"{what} is not a whole number of 36-byte CIDs")
    arr = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CID_LEN)
    prefix = np.frombuffer(CID_PREFIX, dtype=np.uint8)
    if not per_link_checks:
        return arr
    if arr.shape[0] and not bool((arr[:, : len(CID_PREFIX)] == prefix).all()):
        raise TxRejected(Reject.INVALID_CID, f"{what} holds a CID that is not v1/raw/BLAKE3")
    return arr


decoded_memo_max = 8_192
"""Txs :func:`decode_tx` remembers (least recently used out): four blocks of 2,000 txs,
so a tx decoded at mempool admission is still there when its block executes. Memory: a remembered tx holds
its raw bytes, body and link arrays, at most ~12 KB at ``TX_BYTES_MAX``, so ≤ ~100 MB."""
_decoded: BoundedMemo[bytes, Tx] = BoundedMemo(decoded_memo_max)


def decode_tx(raw: bytes, *, per_link_checks: bool = True) -> Tx:
    """Decode a SignedTx and run every check that needs no state and no signature.

    A tx that passes every check is remembered by its exact bytes (decoding is a pure
    function of them, and a ``Tx`` is immutable): the validator decodes each tx at mempool
    admission, and executing its block then finds it here instead of decoding it again
    (issue 18: "decode each tx once"). Rejections are not remembered.

    ``per_link_checks=False`` skips the two checks that look at every link (CID prefix,
    self link): only for :func:`decode_txs`, which runs them over a whole block at once;
    such a decode is never remembered.

    Raises:
        TxRejected: MALFORMED, OVERSIZED, ADDRESS_MISMATCH, INVALID_CID, EMPTY_BATCH,
            SELF_LINK (the sender's fault; the tx carries its own evidence).
    """
    if type(raw) is not bytes:  # a mutable buffer could change under its key
        return decode_tx_uncached(raw, per_link_checks=per_link_checks)
    if per_link_checks:
        return _decoded.get_or_compute(raw, lambda: decode_tx_uncached(raw))
    hit = _decoded.get(raw)  # a full decode serves a partial one; never the other way
    return hit if hit is not None else decode_tx_uncached(raw, per_link_checks=False)


def decode_tx_uncached(raw: bytes, *, per_link_checks: bool = True) -> Tx:
    """:func:`decode_tx` without its memo (the reference path's decode, and the memo's)."""
    if len(raw) > TX_BYTES_MAX:
        raise TxRejected(Reject.OVERSIZED, f"{len(raw)} bytes > TX_BYTES_MAX {TX_BYTES_MAX}")
    limit_words = len(raw) // 8 + 64
    try:
        with schema.SignedTx.from_bytes(
            raw, traversal_limit_in_words=limit_words, nesting_limit=nesting_limit_max
        ) as env:
            body, sig, pub = bytes(env.body), bytes(env.signature), bytes(env.publicKey)
        if len(sig) != SIGNATURE_LEN or len(pub) != PUBKEY_LEN:
            raise TxRejected(Reject.MALFORMED, "signature or public key has the wrong size")
        with schema.TxBody.from_bytes(
            body, traversal_limit_in_words=len(body) // 8 + 64, nesting_limit=nesting_limit_max
        ) as msg:
            fields = _read_body(msg, per_link_checks)
    except TxRejected:
        raise
    except (capnp.KjException, ValueError, UnicodeDecodeError) as exc:
        raise TxRejected(Reject.MALFORMED, f"undecodable: {str(exc)[:120]}") from exc
    if address_of(pub) != fields["neuron"]:
        raise TxRejected(Reject.ADDRESS_MISMATCH, "public key does not derive the neuron address")
    return Tx(tx_hash=tx_hash_of(raw), body=body, signature=sig, public_key=pub, **fields)


def tx_hash_of(raw: bytes) -> bytes:
    """Identity of a signed tx: domain-separated BLAKE3 of its exact bytes."""
    return blake3.blake3(raw, derive_key_context=_TX_HASH_CONTEXT).digest()


def decode_txs(raws: Sequence[bytes]) -> list[Tx | TxRejected]:
    """:func:`decode_tx` of each of ``raws`` (the Tx, or the exception it raises).

    Columnar: the per-link checks (CID prefix, self link) run once over the links of
    every tx together, a few numpy calls per block instead of per tx. A tx that fails
    anything is decoded again by :func:`decode_tx` itself, so its rejection (reason and
    detail, whose order of checks matters) is exactly the per-tx one.
    """
    out: list[Tx | TxRejected] = []
    linked: list[int] = []
    for raw in raws:
        hit = _decoded.get(raw) if type(raw) is bytes else None
        if hit is not None:  # decoded and fully checked at admission
            out.append(hit)
            continue
        try:
            tx = decode_tx(raw, per_link_checks=False)
        except TxRejected:
            out.append(_rejection(raw))
            continue
        if tx.kind is not TxKind.TRANSFER:
            linked.append(len(out))
        out.append(tx)
    if not linked:
        return out
    txs = [out[i] for i in linked]
    counts = np.array([t.n_links for t in txs], dtype=np.int64)  # type: ignore[union-attr]
    froms = np.concatenate([t.froms for t in txs])  # type: ignore[union-attr]
    tos = np.concatenate([t.tos for t in txs])  # type: ignore[union-attr]
    prefix = np.frombuffer(CID_PREFIX, dtype=np.uint8)
    bad = (froms[:, : len(CID_PREFIX)] != prefix).any(axis=1)
    bad |= (tos[:, : len(CID_PREFIX)] != prefix).any(axis=1)
    bad |= (froms == tos).all(axis=1)
    starts = np.zeros(len(txs), np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    for k in np.flatnonzero(np.logical_or.reduceat(bad, starts)).tolist():
        out[linked[k]] = _rejection(raws[linked[k]])
    return out


def _rejection(raw: bytes) -> TxRejected:
    """The exception :func:`decode_tx` raises for ``raw`` (which must fail)."""
    try:
        decode_tx(raw)
    except TxRejected as rej:
        return rej
    raise AssertionError("a tx failed the columnar checks but passes decode_tx")


def _read_body(msg: Any, per_link_checks: bool = True) -> dict[str, Any]:
    chain_id = str(msg.chainId)
    if len(chain_id.encode()) > chain_id_bytes_max:
        raise TxRejected(Reject.OVERSIZED, "chain id too long")
    neuron = bytes(msg.neuron)
    if len(neuron) != ADDRESS_LEN:
        raise TxRejected(Reject.MALFORMED, "neuron address must be 20 bytes")
    which = msg.which()
    empty = np.zeros((0, CID_LEN), dtype=np.uint8)
    out: dict[str, Any] = {
        "chain_id": chain_id, "neuron": neuron, "nonce": int(msg.nonce), "fee": int(msg.fee),
        "expiry_height": int(msg.expiryHeight), "froms": empty, "tos": empty, "to": b"",
        "amount": 0,
    }  # fmt: skip
    if which in ("link", "unlink"):
        batch = msg.link if which == "link" else msg.unlink
        froms = _links_array(bytes(batch.froms), "froms", per_link_checks)
        tos = _links_array(bytes(batch.tos), "tos", per_link_checks)
        if froms.shape != tos.shape:
            raise TxRejected(Reject.MALFORMED, "froms and tos differ in length")
        if froms.shape[0] == 0:
            raise TxRejected(Reject.EMPTY_BATCH, "no links in the batch")
        if froms.shape[0] > LINKS_PER_TX_MAX:
            raise TxRejected(Reject.OVERSIZED, f"{froms.shape[0]} links > {LINKS_PER_TX_MAX}")
        if per_link_checks and bool((froms == tos).all(axis=1).any()):
            raise TxRejected(Reject.SELF_LINK, "a link from a particle to itself")
        out.update(kind=TxKind(which), froms=froms, tos=tos)
    elif which == "transfer":
        to = bytes(msg.transfer.to)
        if len(to) != ADDRESS_LEN:
            raise TxRejected(Reject.MALFORMED, "transfer recipient must be 20 bytes")
        out.update(kind=TxKind.TRANSFER, to=to, amount=int(msg.transfer.amount))
    else:
        raise TxRejected(Reject.MALFORMED, f"unknown body variant {which!r}")
    return out


def verify_signatures(txs: Sequence[Tx]) -> list[bool]:
    """Verify each tx's Ed25519 signature over its body bytes. Pure; releases the GIL.

    Through the process-wide memo of verified triples: a tx checked at mempool admission
    is not checked again when its block executes (nor by the other validators of a
    simulation)."""
    out = [verify_detached(tx.public_key, tx.body, tx.signature) for tx in txs]
    assert len(out) == len(txs)
    return out


# --------------------------------------------------------------------------- building


def encode_body(
    *,
    chain_id: str,
    neuron: bytes,
    nonce: int,
    fee: int,
    expiry_height: int,
    kind: TxKind,
    froms: bytes = b"",
    tos: bytes = b"",
    to: bytes = b"",
    amount: int = 0,
) -> bytes:
    """Cap'n Proto bytes of a TxBody (what gets signed)."""
    msg = schema.TxBody.new_message(
        chainId=chain_id, neuron=neuron, nonce=nonce, fee=fee, expiryHeight=expiry_height
    )
    if kind is TxKind.TRANSFER:
        tr = msg.init("transfer")
        tr.to, tr.amount = to, amount
    else:
        batch = msg.init(kind.value)
        batch.froms, batch.tos = froms, tos
    return bytes(msg.to_bytes())


def sign_body(neuron: Neuron, body: bytes) -> bytes:
    """SignedTx bytes: the body bytes as they are, their signature, the public key."""
    env = schema.SignedTx.new_message(
        body=body, signature=neuron.sign(body), publicKey=neuron.public_key
    )
    return bytes(env.to_bytes())


def make_tx(
    neuron: Neuron,
    *,
    chain_id: str,
    nonce: int,
    kind: TxKind,
    fee: int = 0,
    expiry_height: int = 2**63,
    links: Sequence[tuple[bytes, bytes]] = (),
    to: bytes = b"",
    amount: int = 0,
) -> bytes:
    """Convenience builder used by tests, the CLI and the simulator's workload."""
    froms = b"".join(f for f, _ in links)
    tos = b"".join(t for _, t in links)
    body = encode_body(
        chain_id=chain_id, neuron=neuron.address, nonce=nonce, fee=fee,
        expiry_height=expiry_height, kind=kind, froms=froms, tos=tos, to=to, amount=amount,
    )  # fmt: skip
    return sign_body(neuron, body)
