"""Node identity and mutual TLS 1.3 pinned to Ed25519 node keys.

Why this shape: the issue asks for an established protocol, not home-made cryptography.
TLS 1.3 (OpenSSL through Python's ``ssl``, driven by anyio's ``TLSStream``) gives the
encrypted, authenticated channel; the certificate is self-signed *by the node's own
Ed25519 key* (the certificate's key IS the node key), so a peer is identified by its
public key, as in CometBFT's node ids. There is no CA: each node trusts exactly the
certificates of the peers listed in its configuration (OpenSSL refuses anyone else
during the handshake) and, after the handshake, checks that the peer's certificate key
is the Ed25519 key it expects for that peer name (the pin).
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path

import blake3
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

NODE_KEY_SEED_BYTES = 32
NODE_PUBLIC_KEY_BYTES = 32
NODE_NAME_BYTES_MAX = 64
_NOT_BEFORE = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
_NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
#: OpenSSL's X509_V_FLAG_NO_CHECK_TIME (not named by Python's ``ssl``): skip the
#: certificates' validity dates. A peer is its pinned key, not a CA's statement of time.
_X509_V_FLAG_NO_CHECK_TIME = 0x200000


class PeerAuthError(Exception):
    """A peer's certificate is not the one pinned for it (remote fault)."""


def check_node_name(name: str) -> str:
    """Node names travel in every envelope and in certificates: short, printable, no '/'.

    Raises:
        ValueError: empty, too long, or with characters outside ``[A-Za-z0-9._-]``.
    """
    ok = name and len(name) <= NODE_NAME_BYTES_MAX and all(c.isalnum() or c in "._-" for c in name)
    if not ok:
        raise ValueError(f"invalid node name {name!r}: 1..{NODE_NAME_BYTES_MAX} of [A-Za-z0-9._-]")
    return name


def public_key_of_seed(seed: bytes) -> bytes:
    """The raw 32-byte Ed25519 public key of a 32-byte seed."""
    assert len(seed) == NODE_KEY_SEED_BYTES
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def make_certificate(seed: bytes, name: str) -> bytes:
    """A PEM certificate for ``name`` whose key is the Ed25519 key of ``seed``, self-signed.

    Deterministic (Ed25519 signatures are, and serial and dates derive from the key), so
    re-running ``init`` on the same key reproduces the same certificate.
    """
    check_node_name(name)
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pub = public_key_of_seed(seed)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    serial = int.from_bytes(blake3.blake3(b"focusflow cert serial" + pub).digest()[:16], "big") >> 1
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial or 1)
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, None)
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    return pem


def private_key_pem(seed: bytes) -> bytes:
    """PKCS#8 PEM of the Ed25519 key (what OpenSSL loads; the file is the node key)."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def seed_of_private_key_pem(pem: bytes) -> bytes:
    """The 32-byte seed inside a PKCS#8 Ed25519 PEM.

    Raises:
        ValueError: not an unencrypted Ed25519 private key.
    """
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the node key must be an Ed25519 private key")
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    assert len(raw) == NODE_KEY_SEED_BYTES
    return raw


def certificate_public_key(cert: bytes) -> bytes:
    """The raw Ed25519 public key of a PEM or DER certificate.

    Raises:
        PeerAuthError: not a certificate, or its key is not Ed25519.
    """
    try:
        parsed = (x509.load_pem_x509_certificate(cert) if cert.startswith(b"-----")
                  else x509.load_der_x509_certificate(cert))
    except ValueError as exc:
        raise PeerAuthError(f"not a certificate: {exc}") from exc
    key = parsed.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise PeerAuthError(f"certificate key is {type(key).__name__}, not Ed25519")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """This node's name and key files (the PEM key is the Ed25519 node key)."""

    name: str
    key_path: Path
    cert_path: Path

    @property
    def public_key(self) -> bytes:
        """The node's Ed25519 public key, read from its certificate."""
        return certificate_public_key(self.cert_path.read_bytes())

    @classmethod
    def create(cls, directory: Path, name: str, seed: bytes) -> NodeIdentity:
        """Write ``node_key.pem`` (mode 0600) and ``node_cert.pem`` into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        key_path = directory / "node_key.pem"
        cert_path = directory / "node_cert.pem"
        key_path.write_bytes(private_key_pem(seed))
        key_path.chmod(0o600)
        cert_path.write_bytes(make_certificate(seed, name))
        return cls(name, key_path, cert_path)


def tls_context(identity: NodeIdentity, trusted_certs: list[bytes], *, server: bool) -> ssl.SSLContext:
    """A TLS 1.3-only context presenting our certificate and trusting only ``trusted_certs``.

    Both sides require a certificate (mutual TLS). Host names are not checked: peers are
    pinned by key after the handshake (``pin_peer``), not by name or CA. Validity dates
    are not checked either: they protect nothing a pin does not, and checking them cut a
    node whose clock was wrong (a 2019 clock against certificates valid from 2020) off
    from every peer (issue 16, finding 13).
    """
    assert trusted_certs, "a node with no peers has nobody to trust"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= _X509_V_FLAG_NO_CHECK_TIME
    ctx.load_cert_chain(str(identity.cert_path), str(identity.key_path))
    ctx.load_verify_locations(cadata="".join(c.decode() for c in trusted_certs))
    return ctx


def pin_peer(ssl_object: ssl.SSLObject | None, expected: dict[bytes, str]) -> str:
    """The name of the peer at the other end of a finished handshake, by its key.

    Raises:
        PeerAuthError: no certificate, or its key is not one of ``expected``.
    """
    if ssl_object is None:
        raise PeerAuthError("not a TLS connection")
    if ssl_object.version() != "TLSv1.3":
        raise PeerAuthError(f"negotiated {ssl_object.version()}, not TLSv1.3")
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise PeerAuthError("peer presented no certificate")
    key = certificate_public_key(der)
    name = expected.get(key)
    if name is None:
        raise PeerAuthError(f"peer key {key.hex()[:16]}… is not pinned")
    return name
