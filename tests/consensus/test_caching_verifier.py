"""``CachingVerifier`` gives the verdict of a plain check, whatever it cached before
(issue 16, finding 7: a re-split of a cached valid triple's bytes hit the cache)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.consensus.crypto import CachingVerifier, Ed25519Verifier, Signer

SIGNER = Signer(bytes(range(32)))


def test_a_signature_shifted_into_the_message_is_not_a_cache_hit() -> None:
    verifier = CachingVerifier()
    msg = b"block header bytes"
    sig = SIGNER.sign(msg)
    assert verifier.verify(SIGNER.public_key, msg, sig)
    # the same concatenation pk || sig || msg, split differently: short sig, longer msg
    assert not verifier.verify(SIGNER.public_key, sig[63:] + msg, sig[:63])
    assert not verifier.verify(SIGNER.public_key + sig[:1], msg, sig[1:] + b"")


@settings(max_examples=200, deadline=None)
@given(msg=st.binary(max_size=96), cut_sig=st.integers(0, 200), cut_pk=st.integers(0, 200),
       others=st.lists(st.tuples(st.binary(max_size=40), st.binary(max_size=70),
                                 st.binary(max_size=70)), max_size=3))
def test_the_cache_never_changes_a_verdict(msg: bytes, cut_sig: int, cut_pk: int,
                                           others: list[tuple[bytes, bytes, bytes]]) -> None:
    plain = Ed25519Verifier()
    cached = CachingVerifier()
    sig = SIGNER.sign(msg)
    assert cached.verify(SIGNER.public_key, msg, sig)
    blob = SIGNER.public_key + sig + msg
    a = min(cut_pk, len(blob))
    b = min(a + cut_sig, len(blob))
    triples = [(blob[:a], blob[b:], blob[a:b]), *others, (SIGNER.public_key, msg, sig)]
    for pk, m, s in triples:
        assert cached.verify(pk, m, s) == plain.verify(pk, m, s)
