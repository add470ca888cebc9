"""One particle id (issue 20 item 4): every multibase form a user may paste decodes to the
same 36 bytes, hex is an alternative, and only canonical texts are accepted."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from focusflow.actors.state.ids import (
    CID_PREFIX,
    IdentityError,
    cid_from_text,
    cid_to_base58,
    cid_to_text,
)

cids = st.binary(min_size=32, max_size=32).map(lambda d: CID_PREFIX + d)


@given(cids)
def test_every_form_round_trips(raw: bytes) -> None:
    text = cid_to_text(raw)
    assert text.startswith("b") and len(text) == 59
    for form in (text, "B" + text[1:].upper(), cid_to_base58(raw), raw.hex(), raw.hex().upper()):
        assert cid_from_text(form) == raw, form


@given(cids, st.integers(1, 3))
def test_non_zero_pad_bits_are_refused(raw: bytes, bits: int) -> None:
    text = cid_to_text(raw)  # 58 base32 digits carry 290 bits: the last 2 are padding
    last = "abcdefghijklmnopqrstuvwxyz234567".index(text[-1])
    assert last & 3 == 0
    forged = text[:-1] + "abcdefghijklmnopqrstuvwxyz234567"[last | bits]
    assert base64.b32decode(forged[1:].upper() + "======") == raw  # the lax decoder agrees
    with pytest.raises(IdentityError, match="pad bits"):
        cid_from_text(forged)


@given(cids)
def test_padding_and_mixed_case_are_refused(raw: bytes) -> None:
    text = cid_to_text(raw)
    for bad in (text + "======", text + "=", text[:10] + text[10:].upper(),
                "B" + text[1:], "b" + text[1:].upper(), text[1:], " " + text, text[:-1]):
        with pytest.raises(IdentityError):
            cid_from_text(bad)


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_identity_error(text: str) -> None:
    try:
        raw = cid_from_text(text)
    except IdentityError:
        return
    assert len(raw) == 36 and raw.startswith(CID_PREFIX)


def test_digest_alone_gets_a_hint() -> None:
    with pytest.raises(IdentityError, match="digest alone"):
        cid_from_text("ab" * 32)
