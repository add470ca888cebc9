"""Identities and content addresses: particles (CIDv1) and neurons (Ed25519 + address).

Particles are CIDv1 with the raw codec (0x55) and a BLAKE3-256 multihash (0x1e, 32 bytes),
so any IPFS tool that knows BLAKE3 resolves them; the textual form is base32 lower-case
multibase ('b' prefix, no padding). The binary form is always exactly 36 bytes, which lets
link batches travel as flat ``n x 36`` byte arrays instead of one struct per link.

A neuron is an Ed25519 key pair (PyNaCl). Its address is the first 20 bytes of a
domain-separated BLAKE3 of the 32-byte public key, written as bech32 (BIP-173 checksum)
with the human prefix ``neuron``: the checksum catches typos, the prefix says what it is.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import blake3
from nacl.signing import SigningKey

CID_VERSION = 1
CODEC_RAW = 0x55
MULTIHASH_BLAKE3 = 0x1E
DIGEST_LEN = 32
CID_PREFIX = bytes([CID_VERSION, CODEC_RAW, MULTIHASH_BLAKE3, DIGEST_LEN])
CID_LEN = len(CID_PREFIX) + DIGEST_LEN  # 36
ADDRESS_LEN = 20
PUBKEY_LEN = 32
SIGNATURE_LEN = 64
ADDRESS_HRP = "neuron"
_ADDRESS_CONTEXT = "focusflow 2026 neuron address v1"


class IdentityError(ValueError):
    """A CID or address text/bytes is malformed (the caller's input is at fault)."""


# ---------------------------------------------------------------------------------- CIDs


def cid_of(data: bytes) -> bytes:
    """Binary CIDv1 (raw, BLAKE3) of ``data``: the particle that names these bytes."""
    return CID_PREFIX + blake3.blake3(data).digest()


def cid_from_digest(digest: bytes) -> bytes:
    """Binary CID for an existing 32-byte BLAKE3 digest."""
    if len(digest) != DIGEST_LEN:
        raise IdentityError(f"digest must be {DIGEST_LEN} bytes, got {len(digest)}")
    return CID_PREFIX + digest


def is_cid(raw: bytes) -> bool:
    """True when ``raw`` is a binary CID this network accepts (raw codec, BLAKE3-256)."""
    return len(raw) == CID_LEN and raw[: len(CID_PREFIX)] == CID_PREFIX


def cid_to_text(raw: bytes) -> str:
    """Multibase base32 lower-case text ('b' + RFC 4648 without padding): the one display
    form of a particle."""
    if not is_cid(raw):
        raise IdentityError("not a CIDv1 raw/BLAKE3-256 binary CID")
    text = "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")
    assert len(text) == 59
    return text


def cid_from_text(text: str) -> bytes:
    """Parse a particle id as a user may paste it: multibase CIDv1 text (``b`` base32
    lower-case, ``B`` base32 upper-case, ``z`` base58btc) or the binary CID in hex (72
    digits). Only canonical texts are accepted (no ``=`` padding, zero pad bits, no
    leading-zero tricks), so that one particle has exactly one text per form.

    Raises:
        IdentityError: none of those forms, a non-canonical text, or a CID other than
            v1/raw/BLAKE3-256 (we refuse rather than silently accept foreign CIDs).
    """
    if not isinstance(text, str) or not text:
        raise IdentityError("empty particle id")
    if len(text) == 2 * CID_LEN and all(c in _HEX for c in text):
        raw = bytes.fromhex(text)
    elif text[0] in "bB":
        raw = _base32_canonical(text)
    elif text[0] == "z":
        raw = _base58_canonical(text[1:])
    else:
        hint = " (the 32-byte digest alone is not a particle id)" if (
            len(text) == 2 * DIGEST_LEN and all(c in _HEX for c in text)) else ""
        raise IdentityError(f"not a particle id: expected CIDv1 text ('b…', 'B…' or 'z…') "
                            f"or {2 * CID_LEN} hex digits{hint}")
    if not is_cid(raw):
        raise IdentityError("CID is not v1/raw/BLAKE3-256")
    return raw


def cid_short(text: str) -> str:
    """The short display of a particle's text (logs, tables): its first 10 characters and
    last 6, which is where two particles' texts differ (the first 7 are the fixed prefix)."""
    return f"{text[:10]}…{text[-6:]}" if len(text) > 17 else text


_HEX = frozenset("0123456789abcdefABCDEF")
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _base32_canonical(text: str) -> bytes:
    """RFC 4648 base32 without padding, all lower case after 'b' or all upper after 'B'."""
    body = text[1:]
    want = body.lower() if text[0] == "b" else body.upper()
    if body != want:
        raise IdentityError(f"multibase {text[0]!r} text must be all "
                            f"{'lower' if text[0] == 'b' else 'upper'} case")
    if "=" in body:
        raise IdentityError("base32 padding ('=') is not canonical in a CID")
    up = body.upper()
    if any(c not in _B32 for c in up) or len(up) % 8 in (1, 3, 6):
        raise IdentityError("bad base32 in CID")
    raw = base64.b32decode(up + "=" * (-len(up) % 8))
    if base64.b32encode(raw).decode("ascii").rstrip("=") != up:
        raise IdentityError("base32 CID has non-zero pad bits (not canonical)")
    return raw


def _base58_canonical(body: str) -> bytes:
    """base58btc (Bitcoin alphabet): each leading '1' is one zero byte."""
    if not body or any(c not in _B58 for c in body):
        raise IdentityError("bad base58btc in CID")
    n = 0
    for c in body:
        n = n * 58 + _B58.index(c)
    zeros = len(body) - len(body.lstrip("1"))
    return b"\0" * zeros + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")


def cid_to_base58(raw: bytes) -> str:
    """The ``z`` (base58btc) multibase text of a binary CID (what some IPFS tools print)."""
    if not is_cid(raw):
        raise IdentityError("not a CIDv1 raw/BLAKE3-256 binary CID")
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "z" + "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


# ----------------------------------------------------------------------------- bech32

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def convert_bits(data: bytes | list[int], frm: int, to: int, *, pad: bool) -> list[int]:
    """Regroup bits (BIP-173 ``convertbits``); raises IdentityError on invalid padding."""
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << to) - 1
    for value in data:
        if value < 0 or value >> frm:
            raise IdentityError("value out of range for bit conversion")
        acc = (acc << frm) | value
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to - bits)) & maxv)
    elif bits >= frm or ((acc << (to - bits)) & maxv):
        raise IdentityError("invalid padding")
    return out


def bech32_encode(hrp: str, data5: list[int]) -> str:
    """BIP-173 bech32 string of 5-bit groups ``data5`` under human prefix ``hrp``."""
    poly = _polymod([*_hrp_expand(hrp), *data5, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data5 + checksum)


def bech32_decode(text: str) -> tuple[str, list[int]]:
    """Inverse of :func:`bech32_encode`; raises IdentityError on any checksum/format fault."""
    if text.lower() != text and text.upper() != text:
        raise IdentityError("mixed case bech32")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1 or sep + 7 > len(text) or len(text) > 90:
        raise IdentityError("bech32 separator/length invalid")
    hrp, rest = text[:sep], text[sep + 1 :]
    if any(c not in _CHARSET for c in rest):
        raise IdentityError("bech32 character outside the charset")
    data = [_CHARSET.index(c) for c in rest]
    if _polymod(_hrp_expand(hrp) + data) != 1:
        raise IdentityError("bech32 checksum mismatch")
    return hrp, data[:-6]


# ----------------------------------------------------------------------------- neurons


def address_of(public_key: bytes) -> bytes:
    """20-byte neuron address: BLAKE3 (derive-key mode, our context) of the public key."""
    if len(public_key) != PUBKEY_LEN:
        raise IdentityError(f"Ed25519 public key must be {PUBKEY_LEN} bytes")
    digest = blake3.blake3(public_key, derive_key_context=_ADDRESS_CONTEXT).digest()
    return digest[:ADDRESS_LEN]


def address_to_text(address: bytes) -> str:
    """Bech32 text ``neuron1...`` of a 20-byte address."""
    if len(address) != ADDRESS_LEN:
        raise IdentityError(f"address must be {ADDRESS_LEN} bytes")
    return bech32_encode(ADDRESS_HRP, convert_bits(address, 8, 5, pad=True))


def address_from_text(text: str) -> bytes:
    """Parse ``neuron1...``; raises IdentityError on a wrong prefix, checksum or length."""
    hrp, data5 = bech32_decode(text)
    if hrp != ADDRESS_HRP:
        raise IdentityError(f"address prefix must be {ADDRESS_HRP!r}, got {hrp!r}")
    raw = bytes(convert_bits(data5, 5, 8, pad=False))
    if len(raw) != ADDRESS_LEN:
        raise IdentityError("address payload is not 20 bytes")
    return raw


@dataclass(frozen=True, slots=True)
class Neuron:
    """A neuron's key pair. Build with :meth:`generate` or :meth:`from_seed`."""

    signing_key: SigningKey

    @classmethod
    def from_seed(cls, seed: bytes) -> Neuron:
        """Deterministic key from a 32-byte seed (tests, simulator, key files)."""
        if len(seed) != 32:
            raise IdentityError("Ed25519 seed must be 32 bytes")
        return cls(SigningKey(seed))

    @classmethod
    def generate(cls) -> Neuron:
        """Fresh random key (OS randomness: only for CLI/key tools, never inside cores)."""
        return cls(SigningKey.generate())

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def address(self) -> bytes:
        return address_of(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """Detached 64-byte Ed25519 signature over ``message`` bytes."""
        sig = self.signing_key.sign(message).signature
        assert len(sig) == SIGNATURE_LEN
        return bytes(sig)
