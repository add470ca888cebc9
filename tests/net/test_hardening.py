"""The transport under hostile conditions (issue 16): clocks that disagree with the
certificates' dates (finding 13), and running out of file descriptors (finding 5)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from focusflow.net import NodeIdentity, private_key_pem
from focusflow.wire.system import Blob
from tests.net.test_transport import Echo, live_node, spec

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def dated_identity(tmp: Path, name: str, byte: int, not_before: datetime.datetime,
                   not_after: datetime.datetime) -> NodeIdentity:
    """A node identity whose self-signed certificate is valid only between two dates (as
    one made by a node whose clock was far off, or long ago)."""
    seed = bytes([byte]) * 32
    key = Ed25519PrivateKey.from_private_bytes(seed)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(byte)
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, None))
    folder = tmp / name
    folder.mkdir()
    (folder / "node_key.pem").write_bytes(private_key_pem(seed))
    (folder / "node_cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return NodeIdentity(name, folder / "node_key.pem", folder / "node_cert.pem")


async def test_pinned_peers_talk_whatever_their_certificates_dates(tmp_path: Path) -> None:
    utc = datetime.UTC
    # a's certificate is not yet valid (as a 2019 clock sees a 2020 one); b's has expired
    ia = dated_identity(tmp_path, "a", 1, datetime.datetime(2100, 1, 1, tzinfo=utc),
                        datetime.datetime(2200, 1, 1, tzinfo=utc))
    ib = dated_identity(tmp_path, "b", 2, datetime.datetime(2000, 1, 1, tzinfo=utc),
                        datetime.datetime(2001, 1, 1, tzinfo=utc))
    async with live_node(ib, [spec(ia)]) as (sys_b, tb), \
            live_node(ia, [spec(ib, tb.listen_port)]) as (sys_a, ta):
        sys_b.spawn(Echo, name="echo")
        remote = sys_a.node.ref("b", "/user/echo")
        assert await sys_a.ask(remote, Blob(b"hi"), timeout_ms=5000) == Blob(b"re:hi")
        assert ta.refused_handshakes == tb.refused_handshakes == 0
