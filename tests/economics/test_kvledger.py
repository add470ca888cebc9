"""The core runs unchanged over a key-value ledger laid out in ``/token``."""

from __future__ import annotations

from collections.abc import Iterable

from focusflow.actors.economics.core import BlockRecord
from focusflow.actors.economics.kvledger import KeyValueLedger, balance_key, supply_key
from focusflow.actors.economics.ledger import CYB, Ledger
from focusflow.actors.economics.year import run_scenario


def _dict_kv(state: dict[bytes, bytes]) -> KeyValueLedger:
    def scan(prefix: bytes) -> Iterable[tuple[bytes, bytes]]:
        return [(k, v) for k, v in state.items() if k.startswith(prefix)]

    return KeyValueLedger(state.get, scan)


def test_kv_ledger_implements_the_protocol_and_uses_u64_le_keys() -> None:
    state: dict[bytes, bytes] = {}
    kv = _dict_kv(state)
    assert isinstance(kv, Ledger)
    kv.set_balance("alice", CYB, 5)
    kv.set_supply(CYB, 5)
    assert kv.balance("alice", CYB) == 5 and state == {}  # staged, not committed
    assert kv.commit_into(state) == 2
    five = (5).to_bytes(8, "little")
    assert state == {balance_key("alice", CYB): five, supply_key(CYB): five}
    kv.set_balance("alice", CYB, 0)
    assert list(kv.holders(CYB)) == []  # the staged deletion hides the committed balance
    kv.commit_into(state)
    assert balance_key("alice", CYB) not in state


def test_a_scenario_gives_identical_records_over_the_kv_ledger() -> None:
    """Ledger-agnostic and deterministic: committing each block's writes to a key-value
    state gives exactly the records and samples of the in-memory run."""
    mem: list[BlockRecord] = []
    mem_result = run_scenario("shock", days=3, on_block=mem.append)

    state: dict[bytes, bytes] = {}
    kv = _dict_kv(state)
    kv_records: list[BlockRecord] = []

    def commit(record: BlockRecord) -> None:
        kv_records.append(record)
        kv.commit_into(state)
        assert not kv.writes

    kv_result = run_scenario("shock", days=3, on_block=commit, ledger=kv)
    assert kv_records == mem and kv_result.samples == mem_result.samples
    assert kv_result.supply_conserved and kv_result.violations == []
    assert all(len(v) == 8 for v in state.values())  # every stored amount is u64 LE
