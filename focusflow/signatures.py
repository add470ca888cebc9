"""The one Ed25519 verification helper: detached signatures over exact bytes (PyNaCl).

Why a process-wide memo of verified triples: a signature that verified once stays valid,
so checking the same (public key, message, signature) again is wasted CPU. That happens in
production (a header, vote or tx arrives from several peers, and a tx is checked at
admission and again in its block) and n-fold in a simulation, where every validator of the
process checks every signature. Only successes are remembered, so a forged signature is
always checked in full and a bad triple never hits the memo; the memo is bounded, so a
flood of distinct valid signatures costs bounded memory.
"""

from __future__ import annotations

import blake3
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from focusflow.memo import BoundedMemo

SIGNATURE_LEN = 64
PUBLIC_KEY_LEN = 32

verified_memo_max = 1 << 18
"""Verified triples remembered (least recently used out): at ~150 bytes an entry (a
32-byte key in an ordered dict) about 40 MB at most, several minutes of a busy network."""
_verified: BoundedMemo[bytes, bool] = BoundedMemo(verified_memo_max)

_MEMO_DOMAIN = b"focusflow/verified-triple/v1\x00"


def verify_detached(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` under ``public_key``.

    A triple that verified before is answered from the memo; any other is checked in full.
    """
    if len(signature) != SIGNATURE_LEN or len(public_key) != PUBLIC_KEY_LEN:
        return False  # before the lookup: the memo key below assumes these sizes
    key = triple_key(public_key, message, signature)
    if _verified.get(key):
        return True
    ok = verify_detached_uncached(public_key, message, signature)
    if ok:
        _verified.put(key, True)
    return ok


def verify_detached_uncached(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """:func:`verify_detached` without the memo (the reference check, and the memo's)."""
    if len(signature) != SIGNATURE_LEN or len(public_key) != PUBLIC_KEY_LEN:
        return False  # libsodium reads 32 key bytes whatever it is given
    try:
        crypto_sign_open(bytes(signature) + bytes(message), bytes(public_key))
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


def triple_key(public_key: bytes, message: bytes, signature: bytes) -> bytes:
    """The memo key of a triple: BLAKE3 of an injective encoding (every part
    length-prefixed), so a triple whose bytes merely concatenate to a remembered one (a
    signature shifted into the message) is a different key (issue 16, finding 7)."""
    h = blake3.blake3(_MEMO_DOMAIN)
    for part in (public_key, signature, message):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()


def verified_memo() -> BoundedMemo[bytes, bool]:
    """The process-wide memo (tests and benchmarks read its size and hits)."""
    return _verified
