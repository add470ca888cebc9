"""The state schema compiles with the official Cap'n Proto tool, and the signed envelope
keeps the body as opaque bytes (what the signature covers)."""

from __future__ import annotations

import subprocess

from focusflow.actors.state.tx import SCHEMA_PATH, schema
from focusflow.wire import SCHEMA_DIR
from tests.support import require_tool


def test_state_schema_compiles_with_capnp() -> None:
    capnp = require_tool("capnp")
    out = subprocess.run(
        [capnp, "compile", "-o-", f"--import-path={SCHEMA_DIR}", str(SCHEMA_PATH)],
        capture_output=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode()


def test_signed_tx_body_is_data_not_a_struct() -> None:
    fields = {f.proto.name: f for f in schema.SignedTx.schema.fields_list}
    assert set(fields) == {"body", "signature", "publicKey"}
    assert all(str(f.proto.slot.type.which()) == "data" for f in fields.values())
