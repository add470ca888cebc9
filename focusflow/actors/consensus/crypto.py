"""Hashes (BLAKE3, domain-separated) and Ed25519 signatures (PyNaCl) for the cores.

Why an injected ``Verifier``: a simulation runs n validators in one process and each
signature reaches n of them; ``CachingVerifier`` checks each distinct (key, message,
signature) once per process (the memo of :mod:`focusflow.signatures`), which keeps
50-validator runs tractable without weakening a check (a cached entry is a signature that
really verified).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import blake3
from nacl.signing import SigningKey

from focusflow.actors.consensus.types import DIGEST_BYTES, SIGNATURE_BYTES
from focusflow.signatures import verify_detached, verify_detached_uncached

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
    """Plain PyNaCl verification, no memo (the reference a caching verifier is checked against)."""

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid for ``message`` under ``public_key``."""
        return verify_detached_uncached(public_key, message, signature)


class CachingVerifier:
    """Ed25519 verification through the process-wide memo of verified triples
    (:func:`focusflow.signatures.verify_detached`: bounded, successes only, keyed on an
    injective encoding of the exact bytes). Shared by every core of the process, so a
    signature that n simulated validators receive is checked once, not n times."""

    def __init__(self) -> None:
        #: Signatures this verifier was asked about (tests, metrics).
        self.checks = 0

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid for ``message`` under ``public_key``."""
        self.checks += 1
        return verify_detached(public_key, message, signature)
