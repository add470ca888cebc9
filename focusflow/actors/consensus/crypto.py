"""Hashes (BLAKE3, domain-separated) and Ed25519 signatures (PyNaCl) for the cores.

Why an injected ``Verifier``: a simulation runs n validators in one process and each
signature reaches n of them; ``CachingVerifier`` checks each distinct (key, message,
signature) once, which keeps 50-validator runs tractable without weakening a check
(a cached entry is a signature that really verified).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import blake3
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from focusflow.actors.consensus.types import DIGEST_BYTES, SIGNATURE_BYTES

DOMAIN_HEADER = b"focusflow/consensus/header/v1\x00"
DOMAIN_VOTE = b"focusflow/consensus/vote/v1\x00"
DOMAIN_BLOCK = b"focusflow/consensus/block/v1\x00"
DOMAIN_TX = b"focusflow/consensus/tx/v1\x00"
DOMAIN_MERKLE_LEAF = b"focusflow/consensus/merkle-leaf/v1\x00"
DOMAIN_MERKLE_NODE = b"focusflow/consensus/merkle-node/v1\x00"
DOMAIN_ELECT = b"focusflow/consensus/fallback-elect/v1\x00"


def digest(domain: bytes, data: bytes) -> bytes:
    """BLAKE3 of ``domain || data`` (32 bytes): one domain per kind of object."""
    assert domain.endswith(b"\x00"), "domains are NUL-terminated so none prefixes another"
    out = blake3.blake3(domain + data).digest()
    assert len(out) == DIGEST_BYTES
    return out


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Binary BLAKE3 Merkle root over ``leaves`` (odd node promoted); empty -> H(leaf, "")."""
    level = [digest(DOMAIN_MERKLE_LEAF, leaf) for leaf in leaves]
    if not level:
        return digest(DOMAIN_MERKLE_LEAF, b"")
    while len(level) > 1:
        nxt = [digest(DOMAIN_MERKLE_NODE, level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


class Signer:
    """A validator's Ed25519 signing key; ``sign`` covers exact bytes."""

    def __init__(self, seed: bytes) -> None:
        assert len(seed) == 32, "Ed25519 seeds are 32 bytes"
        self._key = SigningKey(seed)
        self.public_key: bytes = bytes(self._key.verify_key)

    def sign(self, message: bytes) -> bytes:
        """Detached signature over ``message``."""
        sig = self._key.sign(message).signature
        assert len(sig) == SIGNATURE_BYTES
        return bytes(sig)


class Verifier(Protocol):
    """Checks a detached Ed25519 signature."""

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid for ``message`` under ``public_key``."""
        ...


class Ed25519Verifier:
    """Plain PyNaCl verification, no cache."""

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid for ``message`` under ``public_key``."""
        if len(signature) != SIGNATURE_BYTES or len(public_key) != 32:
            return False
        try:
            VerifyKey(public_key).verify(message, signature)
        except (BadSignatureError, ValueError):
            return False
        return True


class CachingVerifier:
    """Ed25519 verification remembering valid triples (bounded LRU, ``entries_max``).

    Only successes are cached, so a forged signature is always checked in full. The key
    is the BLAKE3 of the triple *as a structure* (each part length-prefixed, after the
    sizes are checked): a plain concatenation ``pk || sig || msg`` let an invalid triple
    whose bytes concatenate to a cached valid one (a signature shifted into the message)
    hit the cache (issue 16, finding 7).
    """

    def __init__(self, *, entries_max: int = 1 << 20) -> None:
        assert entries_max > 0
        self.entries_max = entries_max
        self._inner = Ed25519Verifier()
        self._valid: OrderedDict[bytes, None] = OrderedDict()
        self.checks = 0
        self.hits = 0

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid for ``message`` under ``public_key``."""
        self.checks += 1
        if len(signature) != SIGNATURE_BYTES or len(public_key) != 32:
            return False  # before the lookup: the key below assumes these sizes
        key = _triple_key(public_key, message, signature)
        if key in self._valid:
            self.hits += 1
            return True
        ok = self._inner.verify(public_key, message, signature)
        if ok:
            self._valid[key] = None
            if len(self._valid) > self.entries_max:
                self._valid.popitem(last=False)
        return ok


_CACHE_DOMAIN = b"focusflow/consensus/verified-triple/v1\x00"


def _triple_key(public_key: bytes, message: bytes, signature: bytes) -> bytes:
    """An injective encoding of (pk, msg, sig), hashed: every part length-prefixed."""
    h = blake3.blake3(_CACHE_DOMAIN)
    for part in (public_key, signature, message):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()
