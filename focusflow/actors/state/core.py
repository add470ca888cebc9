"""State core (sans-IO): applies ordered transactions block by block.

The core reads committed values through a :class:`StateReader` (the SQLite store, or any
mapping in tests) and never writes: :meth:`StateCore.prepare_block` returns a
:class:`BlockResult` holding every write, the tree overlay and the new root; whoever drives
the core makes that durable (``store.commit_block``) and then calls
:meth:`StateCore.block_committed`. A crash between the two loses the block cleanly: memory
and disk still agree on the previous root.

Transaction rules (each violation is a :class:`~.tx.Reject` reason, state untouched):
the chain id must match; the block height must not exceed the expiry height; the nonce
must equal the account's next nonce (lower = replay, higher = gap); the fee must be at
least ``fee_min`` and, with a transfer's amount, covered by the balance; a neuron cannot
make the same link twice (nor twice in one batch) and can only unlink its own links.
Fees leave the payer's balance; without a ``token`` hook (see :meth:`StateCore.prepare_block`)
they are burned, with it the hook moves them on (the chain's economics, ``economics.onchain``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import mmh3
import numpy as np

from focusflow.actors.state import keys as K
from focusflow.actors.state.ids import ADDRESS_LEN, CID_LEN
from focusflow.actors.state.smt import (
    Overlay,
    Proof,
    SparseMerkleTree,
    new_keypath_hasher,
    value_hash,
)
from focusflow.actors.state.tx import (
    Reject,
    Tx,
    TxKind,
    TxRejected,
    decode_tx_uncached,
    decode_txs,
    tx_hash_of,
    verify_signatures,
)

txs_per_block_max = 50_000
links_per_block_max = 1_000_000
focus_shards_default = 16


TOKEN_HOOK_PREFIXES = (K.TOKEN_ECON, K.BALANCE)
"""Where a ``token`` hook may write: the economics keyspace and the balances it pays."""


class StateReader(Protocol):
    """Read access to committed values by key path."""

    def get(self, keypath: bytes) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: bytes
    ok: bool
    reason: Reject | None = None
    detail: str = ""


TokenHook = Callable[[Sequence[Receipt], Callable[[bytes], bytes | None]],
                     Mapping[bytes, bytes | None]]
"""``(receipts, block-local get) -> writes`` run after the tx pass, before the root."""


@dataclass(frozen=True, slots=True)
class LinkDeltas:
    """Per-block link changes for the rank workers, as bulk arrays (one row per link)."""

    neuron: np.ndarray  # (n, 20) uint8
    src: np.ndarray  # (n, 36) uint8
    dst: np.ndarray  # (n, 36) uint8
    sign: np.ndarray  # (n,) int8: +1 link, -1 unlink

    @classmethod
    def empty(cls) -> LinkDeltas:
        return cls(
            np.zeros((0, ADDRESS_LEN), np.uint8),
            np.zeros((0, CID_LEN), np.uint8),
            np.zeros((0, CID_LEN), np.uint8),
            np.zeros(0, np.int8),
        )

    def __len__(self) -> int:
        return int(self.sign.shape[0])


@dataclass(frozen=True, slots=True)
class FocusSlice:
    """One shard's committed focus values (fixed point), supplied by the rank side."""

    shard: int
    cids: np.ndarray  # (m, 36) uint8
    values: np.ndarray  # (m,) uint64


@dataclass(frozen=True, slots=True)
class BlockResult:
    """Everything a block changes; durable only once a store commits it."""

    height: int
    parent_root: bytes
    root: bytes
    receipts: tuple[Receipt, ...]
    writes: Mapping[bytes, bytes | None]  # key path -> value (None = delete)
    overlay: Overlay  # tree node changes (path -> entry | None)
    deltas: LinkDeltas


@dataclass
class _Pending:
    """Block-local view: writes so far on top of the committed reader."""

    reader: StateReader
    writes: dict[bytes, bytes | None] = field(default_factory=dict)

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.reader.get(key)


class StateCore:
    """The state machine. ``height``/``root`` are those of the last committed block."""

    def __init__(
        self,
        *,
        chain_id: str,
        reader: StateReader,
        tree: SparseMerkleTree,
        height: int,
        fee_min: int = 0,
        focus_shards: int = focus_shards_default,
    ) -> None:
        assert focus_shards > 0 and fee_min >= 0
        self.chain_id = chain_id
        self.reader = reader
        self.tree = tree
        self.height = height
        self.root = tree.root()
        self.fee_min = fee_min
        self.focus_shards = focus_shards
        self._failed: str | None = None

    # ----------------------------------------------------------------- blocks

    def genesis(
        self,
        *,
        balances: Mapping[bytes, int],
        kv: Mapping[bytes, bytes] | None = None,
        token: Mapping[bytes, bytes | None] | None = None,
    ) -> BlockResult:
        """Block 0: initial balances and metadata (only on an empty state); ``token``:
        the economics' genesis writes (under :data:`TOKEN_HOOK_PREFIXES`, after the
        balances, which it may restate)."""
        assert self.height == -1, "genesis on a non-empty state"
        writes: dict[bytes, bytes | None] = {}
        for addr, amount in balances.items():
            assert len(addr) == ADDRESS_LEN and amount >= 0
            writes[K.balance_key(addr)] = K.u64(amount)
        for name, blob in (kv or {}).items():
            writes[K.kv_key(name)] = blob
        writes.update(_token_writes(token or {}))
        return self._finish(0, (), writes, LinkDeltas.empty())

    def prepare_block(
        self,
        height: int,
        raw_txs: Sequence[bytes],
        *,
        signatures_ok: Sequence[bool] | None = None,
        decoded: Sequence[Tx | Receipt] | None = None,
        focus: Iterable[FocusSlice] = (),
        kv: Mapping[bytes, bytes | None] | None = None,
        token: TokenHook | None = None,
    ) -> BlockResult:
        """Apply ordered transactions on top of the committed state; writes nothing.

        ``token``: called once after the tx pass with the receipts and the block-local
        reader; its writes (only under :data:`TOKEN_HOOK_PREFIXES`) join the block's
        before the root is taken. The chain's economics moves the fees the tx pass
        charged through it (``economics.onchain``), so its state is under this root.

        ``signatures_ok`` comes from :func:`~.tx.verify_signatures` run by the shell off the
        event loop (index-aligned with the *decodable* txs, see :func:`decode_block`); when
        None they are verified here, inline. ``decoded``: :func:`decode_block` of
        ``raw_txs`` when the caller already has it (the ledger decodes once to find which
        txs it verified), so no tx is decoded twice.

        Columnar (issue 18): account checks run once per tx, but the links of the whole
        block are handled as columns: one numpy pass builds every link key path, one read
        per key answers "does it exist" against the committed state, and a tx's verdict
        on its links is a C-level count over its slice of that answer. Only a neuron that
        already changed links earlier in the same block reads its keys through the
        block-local writes, one by one. Same receipts, writes, deltas and root as
        :meth:`prepare_block_reference`.
        """
        self._check_alive()
        if height != self.height + 1:
            raise ValueError(f"block {height} does not follow committed height {self.height}")
        if len(raw_txs) > txs_per_block_max:
            raise ValueError(f"{len(raw_txs)} txs > txs_per_block_max {txs_per_block_max}")
        if decoded is None:
            decoded = decode_block(raw_txs)
        elif len(decoded) != len(raw_txs):
            raise ValueError("decoded must be decode_block(raw_txs) (caller's bug)")
        txs = [t for t in decoded if isinstance(t, Tx)]
        sig_ok = list(signatures_ok) if signatures_ok is not None else verify_signatures(txs)
        assert len(sig_ok) == len(txs), "signatures_ok must align with decodable txs"
        cols = _LinkColumns.of(txs, self.reader)
        pending = _Pending(self.reader)
        receipts: list[Receipt] = []
        accepted = np.zeros(len(txs), bool)
        touched: set[bytes] = set()  # neurons whose links this block changed so far
        link_value = K.u64(height)
        seen: set[bytes] = set()
        links_total = 0
        j = -1
        for item in decoded:
            if isinstance(item, Receipt):
                receipts.append(item)
                continue
            j += 1
            if item.tx_hash in seen:
                receipts.append(Receipt(item.tx_hash, False, Reject.DUPLICATE_TX, "repeated"))
                continue
            seen.add(item.tx_hash)
            if links_total + item.n_links > links_per_block_max:
                receipts.append(Receipt(item.tx_hash, False, Reject.OVERSIZED, "block full"))
                continue
            try:
                writes = self._check_account(item, sig_ok[j], height, pending)
                if item.kind is not TxKind.TRANSFER:
                    keys = cols.keys_of(j)
                    known = cols.committed_of(j)
                    if item.neuron in touched:  # earlier txs of this block moved its links
                        known = [pending.get(k) for k in keys]
                    writes.update(_link_writes_columnar(item, keys, known, link_value, pending))
            except TxRejected as rej:
                receipts.append(Receipt(item.tx_hash, False, rej.reason, rej.detail))
                continue
            pending.writes.update(writes)
            if item.kind is not TxKind.TRANSFER:
                touched.add(item.neuron)
                accepted[j] = True
                links_total += item.n_links
            receipts.append(Receipt(item.tx_hash, True))
        if token is not None:
            pending.writes.update(_token_writes(token(receipts, pending.get)))
        for sl in focus:
            if not 0 <= sl.shard < self.focus_shards or sl.cids.shape[0] != sl.values.shape[0]:
                raise ValueError(f"focus slice {sl.shard} malformed (caller's bug)")
            pending.writes[K.pi_key(sl.shard)] = K.encode_focus_slice(sl.cids, sl.values)
        for name, blob in (kv or {}).items():
            pending.writes[K.kv_key(name)] = blob
        deltas = cols.deltas(txs, accepted)
        return self._finish(height, receipts, pending.writes, deltas, link_value=link_value)

    def prepare_block_reference(
        self,
        height: int,
        raw_txs: Sequence[bytes],
        *,
        signatures_ok: Sequence[bool] | None = None,
        focus: Iterable[FocusSlice] = (),
        kv: Mapping[bytes, bytes | None] | None = None,
    ) -> BlockResult:
        """:meth:`prepare_block` as it was before issue 18: one Python step per link.

        Kept as the test oracle (same receipts, writes, deltas and root as
        :meth:`prepare_block` for any block; a hypothesis test compares them) and as the
        benchmarks' "today" (``benchmarks/bench_executor.py``).
        """
        self._check_alive()
        if height != self.height + 1:
            raise ValueError(f"block {height} does not follow committed height {self.height}")
        if len(raw_txs) > txs_per_block_max:
            raise ValueError(f"{len(raw_txs)} txs > txs_per_block_max {txs_per_block_max}")
        decoded = decode_block_reference(raw_txs)
        txs = [t for t in decoded if isinstance(t, Tx)]
        sig_ok = list(signatures_ok) if signatures_ok is not None else verify_signatures(txs)
        assert len(sig_ok) == len(txs), "signatures_ok must align with decodable txs"
        pending = _Pending(self.reader)
        receipts: list[Receipt] = []
        deltas: list[tuple[bytes, np.ndarray, np.ndarray, int]] = []
        seen: set[bytes] = set()
        it = iter(sig_ok)
        links_total = 0
        for item in decoded:
            if isinstance(item, Receipt):
                receipts.append(item)
                continue
            ok_sig = next(it)
            if item.tx_hash in seen:
                receipts.append(Receipt(item.tx_hash, False, Reject.DUPLICATE_TX, "repeated"))
                continue
            seen.add(item.tx_hash)
            if links_total + item.n_links > links_per_block_max:
                receipts.append(Receipt(item.tx_hash, False, Reject.OVERSIZED, "block full"))
                continue
            receipt = self._apply_tx(item, ok_sig, height, pending, deltas)
            links_total += item.n_links if receipt.ok else 0
            receipts.append(receipt)
        for sl in focus:
            if not 0 <= sl.shard < self.focus_shards or sl.cids.shape[0] != sl.values.shape[0]:
                raise ValueError(f"focus slice {sl.shard} malformed (caller's bug)")
            pending.writes[K.pi_key(sl.shard)] = K.encode_focus_slice(sl.cids, sl.values)
        for name, blob in (kv or {}).items():
            pending.writes[K.kv_key(name)] = blob
        return self._finish(height, receipts, pending.writes, _stack_deltas(deltas), reference=True)

    def _finish(
        self,
        height: int,
        receipts: Sequence[Receipt],
        writes: dict[bytes, bytes | None],
        deltas: LinkDeltas,
        *,
        link_value: bytes | None = None,
        reference: bool = False,
    ) -> BlockResult:
        """Hash the writes into the tree. Every link made in a block stores the same value
        (the height, the very ``link_value`` object), so it is hashed once, not per link."""
        assert max(map(len, writes), default=0) <= K.keypath_bytes_max
        lv, lvh = link_value, (b"" if link_value is None else value_hash(link_value))
        new = new_keypath_hasher  # tree_key inlined: one call less per write
        changes = {
            new().update(k).digest(): (None if v is None else lvh if v is lv else value_hash(v))
            for k, v in writes.items()
        }
        update = self.tree.update_reference if reference else self.tree.update
        root, overlay = update(changes)
        return BlockResult(
            height=height, parent_root=self.root, root=root, receipts=tuple(receipts),
            writes=writes, overlay=overlay, deltas=deltas,
        )  # fmt: skip

    def block_committed(self, result: BlockResult) -> None:
        """The store made ``result`` durable: fold it into memory."""
        self._check_alive()
        if result.height != self.height + 1 or result.parent_root != self.root:
            self._failed = f"committed block {result.height} does not extend {self.height}"
            raise AssertionError(self._failed)
        self.tree.apply(result.overlay)
        self.height = result.height
        self.root = result.root
        assert self.tree.root() == self.root

    def _check_alive(self) -> None:
        if self._failed is not None:
            raise AssertionError(f"state core failed earlier: {self._failed}")

    # ----------------------------------------------------------------- txs

    def _apply_tx(
        self,
        tx: Tx,
        sig_ok: bool,
        height: int,
        pending: _Pending,
        deltas: list[tuple[bytes, np.ndarray, np.ndarray, int]],
    ) -> Receipt:
        try:
            writes = self._check_tx(tx, sig_ok, height, pending)
        except TxRejected as rej:
            return Receipt(tx.tx_hash, False, rej.reason, rej.detail)
        pending.writes.update(writes)
        if tx.kind is not TxKind.TRANSFER:
            deltas.append((tx.neuron, tx.froms, tx.tos, 1 if tx.kind is TxKind.LINK else -1))
        return Receipt(tx.tx_hash, True)

    def _check_tx(
        self, tx: Tx, sig_ok: bool, height: int, pending: _Pending
    ) -> dict[bytes, bytes | None]:
        """All checks first, then the writes: a rejected tx changes nothing."""
        writes = self._check_account(tx, sig_ok, height, pending)
        if tx.kind is not TxKind.TRANSFER:
            writes.update(self._link_writes(tx, height, pending))
        return writes

    def _check_account(
        self, tx: Tx, sig_ok: bool, height: int, pending: _Pending
    ) -> dict[bytes, bytes | None]:
        """The per-tx checks and writes (chain, signature, expiry, nonce, fee, balance,
        transfer); link checks are the caller's. Raises :class:`TxRejected`."""
        if tx.chain_id != self.chain_id:
            raise TxRejected(Reject.WRONG_CHAIN, f"chain {tx.chain_id!r}")
        if not sig_ok:
            raise TxRejected(Reject.BAD_SIGNATURE, "signature does not verify over the body")
        if height > tx.expiry_height:
            raise TxRejected(Reject.EXPIRED, f"height {height} > expiry {tx.expiry_height}")
        expected = K.read_u64(pending.get(K.nonce_key(tx.neuron)))
        if tx.nonce < expected:
            raise TxRejected(Reject.REPLAYED, f"nonce {tx.nonce} < next {expected}")
        if tx.nonce > expected:
            raise TxRejected(Reject.NONCE_GAP, f"nonce {tx.nonce} > next {expected}")
        if tx.fee < self.fee_min:
            raise TxRejected(Reject.FEE_TOO_LOW, f"fee {tx.fee} < {self.fee_min}")
        balance = K.read_u64(pending.get(K.balance_key(tx.neuron)))
        cost = tx.fee + tx.amount
        if cost > balance:
            raise TxRejected(Reject.INSUFFICIENT_BALANCE, f"needs {cost}, has {balance}")
        writes: dict[bytes, bytes | None] = {
            K.nonce_key(tx.neuron): K.u64(tx.nonce + 1),
            K.balance_key(tx.neuron): K.u64(balance - cost),
        }
        if tx.kind is TxKind.TRANSFER:
            if tx.to != tx.neuron:
                to_balance = K.read_u64(pending.get(K.balance_key(tx.to)))
                writes[K.balance_key(tx.to)] = K.u64(to_balance + tx.amount)
            else:
                writes[K.balance_key(tx.neuron)] = K.u64(balance - tx.fee)
        return writes

    def _link_writes(self, tx: Tx, height: int, pending: _Pending) -> dict[bytes, bytes | None]:
        lkeys = K.link_keys(tx.neuron, tx.froms, tx.tos)
        if len(set(lkeys)) != len(lkeys):
            raise TxRejected(Reject.DUPLICATE_LINK, "the same link twice in one batch")
        adding = tx.kind is TxKind.LINK
        for i, lk in enumerate(lkeys):
            exists = pending.get(lk) is not None
            if adding and exists:
                raise TxRejected(Reject.DUPLICATE_LINK, f"link #{i} exists already")
            if not adding and not exists:
                raise TxRejected(Reject.UNKNOWN_LINK, f"link #{i} was never made")
        count = K.read_u64(pending.get(K.count_key(tx.neuron)))
        count = count + len(lkeys) if adding else count - len(lkeys)
        assert count >= 0
        value: bytes | None = K.u64(height) if adding else None
        writes: dict[bytes, bytes | None] = dict.fromkeys(lkeys, value)
        writes[K.count_key(tx.neuron)] = K.u64(count) if count else None
        return writes

    # ----------------------------------------------------------------- queries

    def balance(self, address: bytes) -> int:
        return K.read_u64(self.reader.get(K.balance_key(address)))

    def next_nonce(self, address: bytes) -> int:
        return K.read_u64(self.reader.get(K.nonce_key(address)))

    def link_count(self, neuron: bytes) -> int:
        return K.read_u64(self.reader.get(K.count_key(neuron)))

    def has_link(self, neuron: bytes, src: bytes, dst: bytes) -> bool:
        return self.reader.get(K.link_key(neuron, src, dst)) is not None

    def focus_shard(self, cid: bytes) -> int:
        """Shard of a particle: murmur3-64 (first half, unsigned) of its binary CID mod S."""
        return focus_shard_of(cid, self.focus_shards)

    def focus(self, cid: bytes) -> int | None:
        """Committed fixed-point focus of a particle, None when no slice holds it."""
        raw = self.reader.get(K.pi_key(self.focus_shard(cid)))
        return None if raw is None else K.focus_in_slice(raw, cid)

    def prove(self, keypath: bytes) -> tuple[bytes | None, Proof]:
        """(value, proof) against :attr:`root`, for a light client."""
        return self.reader.get(keypath), self.tree.prove(keypath)

    def invariants(self) -> None:
        """Cheap checks the simulator may run after every step."""
        assert self.tree.root() == self.root
        assert self.height >= -1


def _token_writes(writes: Mapping[bytes, bytes | None]) -> Mapping[bytes, bytes | None]:
    """``writes`` after checking that each lies under :data:`TOKEN_HOOK_PREFIXES`."""
    for key in writes:
        if not key.startswith(TOKEN_HOOK_PREFIXES):
            raise ValueError(f"a token hook wrote {key[:32]!r}, outside /token/econ/ and "
                             "/token/balance/ (caller's bug)")
    return writes


def focus_shard_of(cid: bytes, shards: int = focus_shards_default) -> int:
    """Shard of a particle: murmur3-64 (first half, unsigned) of its binary CID mod ``shards``.

    A function (not only :meth:`StateCore.focus_shard`) because a light client, which holds
    no state core, must find the ``/graph/pi`` key of a particle the way the state does.
    """
    assert shards > 0
    return int(mmh3.hash64(cid, signed=False)[0] % shards)


def decode_block(raw_txs: Sequence[bytes]) -> list[Tx | Receipt]:
    """Stateless decode of every tx; undecodable ones become rejection receipts in place.

    The per-link checks run over the whole block's columns (:func:`~.tx.decode_txs`);
    the result is the per-tx :func:`decode_block_reference`'s (a test compares them).
    """
    return [
        Receipt(tx_hash_of(raw), False, item.reason, item.detail)
        if isinstance(item, TxRejected)
        else item
        for raw, item in zip(raw_txs, decode_txs(raw_txs), strict=True)
    ]


def decode_block_reference(raw_txs: Sequence[bytes]) -> list[Tx | Receipt]:
    """:func:`decode_block` one tx at a time and without the decode memo, as before issue 18
    (oracle and baseline)."""
    out: list[Tx | Receipt] = []
    for raw in raw_txs:
        try:
            out.append(decode_tx_uncached(raw))
        except TxRejected as rej:
            out.append(Receipt(tx_hash_of(raw), False, rej.reason, rej.detail))
    return out


def _stack_deltas(parts: list[tuple[bytes, np.ndarray, np.ndarray, int]]) -> LinkDeltas:
    if not parts:
        return LinkDeltas.empty()
    neuron = np.concatenate(
        [np.tile(np.frombuffer(n, np.uint8), (f.shape[0], 1)) for n, f, _, _ in parts]
    )
    src = np.concatenate([f for _, f, _, _ in parts])
    dst = np.concatenate([t for _, _, t, _ in parts])
    sign = np.concatenate([np.full(f.shape[0], s, np.int8) for _, f, _, s in parts])
    return LinkDeltas(neuron=neuron, src=src, dst=dst, sign=sign)


def _link_writes_columnar(
    tx: Tx,
    keys: list[bytes],
    known: list[bytes | None],
    value: bytes,
    pending: _Pending,
) -> dict[bytes, bytes | None]:
    """:meth:`StateCore._link_writes` over precomputed key paths and their current values.

    The verdicts are C-level (``set``, ``list.count``); the index in a rejection's detail
    is looked up only when the tx is rejected.
    """
    n = len(keys)
    if len(set(keys)) != n:
        raise TxRejected(Reject.DUPLICATE_LINK, "the same link twice in one batch")
    adding = tx.kind is TxKind.LINK
    absent = known.count(None)
    if adding and absent != n:
        i = next(i for i, v in enumerate(known) if v is not None)
        raise TxRejected(Reject.DUPLICATE_LINK, f"link #{i} exists already")
    if not adding and absent:
        raise TxRejected(Reject.UNKNOWN_LINK, f"link #{known.index(None)} was never made")
    count = K.read_u64(pending.get(K.count_key(tx.neuron)))
    count = count + n if adding else count - n
    assert count >= 0
    writes: dict[bytes, bytes | None] = dict.fromkeys(keys, value if adding else None)
    writes[K.count_key(tx.neuron)] = K.u64(count) if count else None
    return writes


@dataclass
class _LinkColumns:
    """Every link of a block's link txs as columns, in tx order.

    ``rows`` is the (L, 88) key-path matrix (``/graph/link/`` + neuron + from + to),
    ``offsets[j]`` where tx ``j``'s links start (transfers own no rows), ``keys`` the
    rows as bytes and ``committed`` their values in the committed state (None: absent).
    """

    rows: np.ndarray
    offsets: np.ndarray
    keys: list[bytes]
    committed: list[bytes | None]
    starts: list[int]  # offsets as Python ints (cheap list slicing)

    @classmethod
    def of(cls, txs: Sequence[Tx], reader: StateReader) -> _LinkColumns:
        counts = np.array(
            [0 if t.kind is TxKind.TRANSFER else t.n_links for t in txs], dtype=np.int64
        )
        offsets = np.zeros(len(txs) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        total = int(offsets[-1])
        rows = np.empty((total, K.LINK_KEY_LEN), np.uint8)
        if total:
            linked = [t for t in txs if t.kind is not TxKind.TRANSFER]
            heads = np.frombuffer(b"".join(K.LINK + t.neuron for t in linked), np.uint8).reshape(
                len(linked), -1
            )
            head_len = heads.shape[1]
            rows[:, :head_len] = np.repeat(heads, counts[counts > 0], axis=0)
            rows[:, head_len : head_len + CID_LEN] = np.concatenate([t.froms for t in linked])
            rows[:, head_len + CID_LEN :] = np.concatenate([t.tos for t in linked])
        keys: list[bytes] = rows.view(f"V{K.LINK_KEY_LEN}").ravel().tolist()
        get_many = getattr(reader, "get_many", None)
        committed = list(get_many(keys)) if get_many is not None else list(map(reader.get, keys))
        return cls(
            rows=rows, offsets=offsets, keys=keys, committed=committed, starts=offsets.tolist()
        )

    def keys_of(self, j: int) -> list[bytes]:
        return self.keys[self.starts[j] : self.starts[j + 1]]

    def committed_of(self, j: int) -> list[bytes | None]:
        return self.committed[self.starts[j] : self.starts[j + 1]]

    def deltas(self, txs: Sequence[Tx], accepted: np.ndarray) -> LinkDeltas:
        """The accepted link txs' rows, split back into columns, with their signs."""
        counts = np.diff(self.offsets)
        mask = np.repeat(accepted, counts)
        if not mask.any():
            return LinkDeltas.empty()
        signs = np.array([-1 if t.kind is TxKind.UNLINK else 1 for t in txs], np.int8)
        rows = self.rows[mask]
        head = len(K.LINK)
        return LinkDeltas(
            neuron=np.ascontiguousarray(rows[:, head : head + ADDRESS_LEN]),
            src=np.ascontiguousarray(rows[:, head + ADDRESS_LEN : head + ADDRESS_LEN + CID_LEN]),
            dst=np.ascontiguousarray(rows[:, head + ADDRESS_LEN + CID_LEN :]),
            sign=np.repeat(signs, counts)[mask],
        )
