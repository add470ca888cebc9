"""Live networking: mutual TLS 1.3 over anyio TCP, pinned to Ed25519 node keys.

Public surface::

    from focusflow.net import NodeIdentity, PeerSpec, Transport, TransportConfig

    identity = NodeIdentity.create(config_dir, "alpha", seed32)
    transport = Transport(identity, peers, listen_host="127.0.0.1", listen_port=26656)
    async with ActorSystem("alpha", transport=transport.send) as system:
        transport.attach(system.node.receive_frame)
        async with anyio.create_task_group() as tg:
            await tg.start(transport.serve)
            ...

See ``docs/operations.md``.
"""

from focusflow.net._accept import AcceptStats, serve_connections
from focusflow.net._tls import (
    NodeIdentity,
    PeerAuthError,
    certificate_public_key,
    check_node_name,
    make_certificate,
    pin_peer,
    private_key_pem,
    public_key_of_seed,
    seed_of_private_key_pem,
    tls_context,
)
from focusflow.net._transport import PeerSpec, PeerStats, Transport, TransportConfig

__all__ = [
    "AcceptStats",
    "NodeIdentity",
    "PeerAuthError",
    "PeerSpec",
    "PeerStats",
    "Transport",
    "TransportConfig",
    "certificate_public_key",
    "check_node_name",
    "make_certificate",
    "pin_peer",
    "private_key_pem",
    "public_key_of_seed",
    "seed_of_private_key_pem",
    "serve_connections",
    "tls_context",
]
