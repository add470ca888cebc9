"""Blocks (sans-IO): committed order -> state transition -> notarised block headers.

Each committed anchor yields one block. Its transactions (the anchor's ordered causal
history, duplicates dropped) go through the injected state transition, which returns the
new state root and π root; the data-availability root is the BLAKE3 Merkle root of the
transaction digests. Every validator builds the same header (the order is agreed), signs
its bytes and broadcasts the share; the quorum stake of shares on the same bytes
notarises (finalizes) it. Rewards settle asynchronously, ``reward_delay_blocks`` after a
batch of ``reward_batch_blocks`` blocks closes, by a deterministic integer split.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from focusflow.actors.consensus import codec
from focusflow.actors.consensus.crypto import (
    DOMAIN_BLOCK,
    DOMAIN_TX,
    Signer,
    Verifier,
    digest,
    merkle_root,
)
from focusflow.actors.consensus.types import (
    BlockHeader,
    BlockSig,
    Broadcast,
    Commit,
    Committee,
    Effect,
    Finalize,
    LocalBug,
    PeerFault,
    Send,
    SettleRewards,
    require,
)

StateTransition = Callable[[bytes, Sequence[bytes]], tuple[bytes, bytes]]
"""(parent state root, ordered txs) -> (state root, π root); deterministic."""

DaRootOf = Callable[[Sequence[bytes]], bytes]
"""Ordered txs -> 32-byte data-availability root (called right after the transition)."""


def merkle_da_root(txs: Sequence[bytes]) -> bytes:
    """Default DA root: BLAKE3 Merkle root of the transaction digests."""
    return merkle_root([digest(DOMAIN_TX, t) for t in txs])

GENESIS_PARENT = bytes(32)


@dataclass(frozen=True, slots=True)
class BlockConfig:
    """Limits and reward schedule."""

    reward_per_block: int = 1_000_000
    reward_batch_blocks: int = 8
    reward_delay_blocks: int = 2
    dedup_window_txs_max: int = 1 << 20
    future_heights_max: int = 256
    own_shares_max: int = 512
    resend_ms: int = 400
    resend_heights_max: int = 32
    finalized_kept_max: int = 4096


@dataclass
class _Block:
    header: BlockHeader
    payload: bytes
    digest: bytes
    txs: tuple[bytes, ...]
    authors: tuple[int, ...]
    sigs: dict[int, bytes]


class BlockCore:
    """Builds, signs and notarises blocks; settles rewards."""

    def __init__(
        self,
        *,
        committee: Committee,
        me: int,
        signer: Signer,
        verifier: Verifier,
        execute: StateTransition,
        genesis_state_root: bytes = bytes(32),
        config: BlockConfig | None = None,
        da_root_of: DaRootOf = merkle_da_root,
    ) -> None:
        self.da_root_of = da_root_of
        self.committee = committee
        self.me = me
        self.signer = signer
        self.verifier = verifier
        self.execute = execute
        self.config = config or BlockConfig()
        self.height = 0  # last built
        self.finalized_height = 0
        self.parent = GENESIS_PARENT
        self.state_root = genesis_state_root
        self.blocks: dict[int, _Block] = {}
        self.early: dict[int, dict[int, BlockSig]] = {}
        self.seen_txs: OrderedDict[bytes, None] = OrderedDict()
        self.settled_batches = 0
        self.finalized: OrderedDict[int, bytes] = OrderedDict()  # height -> digest, recent ones
        self.own_shares: OrderedDict[int, bytes] = OrderedDict()  # height -> encoded BlockSig
        self.helped: OrderedDict[tuple[int, int], None] = OrderedDict()  # (peer, height) we sent ours
        self.resent_ns = 0

    def resume(self, *, height: int, parent: bytes, state_root: bytes, recent_txs: Sequence[bytes]) -> None:
        """Continue a chain finalized elsewhere (a restarted validator that caught up by
        block sync): the next block we build is ``height + 1`` on ``parent``.

        ``recent_txs`` (the transactions of the last blocks, oldest first) seed the dedup
        window so that a history re-ordered after the restart (its certificates were
        ordered by blocks we did not build) yields the same block as everyone else's.
        Reward batches touching heights up to ``height`` are not ours to settle.
        """
        assert self.height == 0 and not self.blocks, "only before the first commit"
        assert height >= 0 and len(parent) == 32 and len(state_root) == 32
        self.height = self.finalized_height = height
        self.parent = parent
        self.state_root = state_root
        for tx in recent_txs[-self.config.dedup_window_txs_max :]:
            self.seen_txs[digest(DOMAIN_TX, tx)] = None
        size = self.config.reward_batch_blocks
        self.settled_batches = -(-height // size)

    def on_commit(self, commit: Commit, authors: Sequence[int],
                  reputation: tuple[int, ...] = ()) -> list[Effect]:
        """Build the next block from a commit, sign it and broadcast the share
        (``reputation``: the anchor's leader-score delta, carried in the header)."""
        txs = []
        for tx in commit.txs:
            d = digest(DOMAIN_TX, tx)
            if d in self.seen_txs:
                continue
            self.seen_txs[d] = None
            txs.append(tx)
        while len(self.seen_txs) > self.config.dedup_window_txs_max:
            self.seen_txs.popitem(last=False)
        state_root, pi_root = self.execute(self.state_root, txs)
        assert len(state_root) == 32 and len(pi_root) == 32, "roots are 32-byte digests"
        header = BlockHeader(
            height=self.height + 1,
            parent=self.parent,
            state_root=state_root,
            da_root=self.da_root_of(txs),
            pi_root=pi_root,
            anchor=commit.anchor,
            anchor_round=commit.slot,
            reputation=reputation,
        )
        payload = codec.encode_block_header(header)
        block_digest = digest(DOMAIN_BLOCK, payload)
        self.height += 1
        self.parent = block_digest
        self.state_root = state_root
        sig = self.signer.sign(payload)
        block = _Block(header, payload, block_digest, tuple(txs), tuple(authors), {self.me: sig})
        self.blocks[header.height] = block
        share = codec.encode_message(self.me, BlockSig(self.me, payload, sig, self.signer.public_key))
        self.own_shares[header.height] = share
        while len(self.own_shares) > self.config.own_shares_max:
            self.own_shares.popitem(last=False)
        effects: list[Effect] = [Broadcast(share)]
        for early in self.early.pop(header.height, {}).values():
            # A share that arrived before we built this height and disagrees with our block
            # (a Byzantine peer, or an honest one that restarted and signed the block it
            # built before its crash) is reported, never allowed to abort this commit:
            # raising here would lose our own share and the commits after it.
            try:
                effects.extend(self.on_block_sig(early.voter, early))
            except PeerFault as fault:
                effects.append(fault.to_effect())
        effects.extend(self._finalize())
        return effects

    def built_digest(self, height: int) -> bytes | None:
        """Digest of the block we built at ``height`` (None: none, or no longer kept)."""
        block = self.blocks.get(height)
        return None if block is None else block.digest

    def unfinalized(self) -> list[tuple[BlockHeader, bytes, bytes, tuple[bytes, ...], bytes]]:
        """(header, payload, digest, txs, our signature) of each block we built and signed
        that is not finalized yet, by height: what the shell makes durable before our share
        leaves, so that a restart can offer the same share again (never a different one)."""
        out = []
        for h in range(self.finalized_height + 1, self.height + 1):
            block = self.blocks.get(h)
            if block is not None and self.me in block.sigs:
                out.append((block.header, block.payload, block.digest, block.txs, block.sigs[self.me]))
        return out

    def on_block_sig(self, sender: int, share: BlockSig) -> list[Effect]:
        """Count a notarisation share; finalize blocks in height order at the quorum stake."""
        require(share.voter == sender and self.committee.is_member(sender), sender, "bad-block-sig", "voter")
        key = self.committee.validators[sender].public_key
        require(share.public_key == key, sender, "bad-key", "block share key is not the voter's")
        require(
            self.verifier.verify(key, share.payload, share.signature),
            sender,
            "bad-signature",
            "block share",
            share.payload,
            share.signature,
        )
        header = codec.decode_block_header(share.payload)
        if header.height <= self.finalized_height:
            # A peer still collecting shares for a height we finalized below our tip (it
            # was crashed or cut off): help it with ours, once per peer and height. Why
            # once: our help reaches a peer that may have finalized that height meanwhile,
            # and it helps us back with its own share, which we would answer again: two
            # validators played that ping-pong for ever (chaos seed 21: 74,000 shares
            # each in 3 virtual seconds, the run stopped by its memory budget). Tip
            # shares arrive late anyway.
            mine = self.own_shares.get(header.height)
            helped = (sender, header.height)
            if header.height < self.finalized_height and mine is not None and helped not in self.helped:
                self.helped[helped] = None
                while len(self.helped) > self.config.own_shares_max:
                    self.helped.popitem(last=False)
                return [Send(sender, mine)]
            return []
        block = self.blocks.get(header.height)
        if block is None:
            if header.height <= self.height + self.config.future_heights_max:
                self.early.setdefault(header.height, {})[sender] = share
            return []
        if share.payload != block.payload:
            require(False, sender, "conflicting-block", f"height {header.height}", share.payload, share.signature)
        block.sigs.setdefault(sender, share.signature)
        return self._finalize()

    def tick(self, now_ns: int) -> list[Effect]:
        """Re-broadcast our shares for built but unfinalized heights (catch-up)."""
        if self.finalized_height >= self.height:
            return []
        if now_ns - self.resent_ns < self.config.resend_ms * 1_000_000:
            return []
        self.resent_ns = now_ns
        last = min(self.height, self.finalized_height + self.config.resend_heights_max)
        return [Broadcast(self.own_shares[h]) for h in range(self.finalized_height + 1, last + 1) if h in self.own_shares]

    def next_deadline_ns(self) -> int | None:
        """When ``tick`` next has something to do."""
        if self.finalized_height >= self.height:
            return None
        return self.resent_ns + self.config.resend_ms * 1_000_000

    def _finalize(self) -> list[Effect]:
        effects: list[Effect] = []
        while True:
            block = self.blocks.get(self.finalized_height + 1)
            if block is None or self.committee.stake_of(block.sigs) < self.committee.quorum_stake:
                return effects
            self.finalized_height += 1
            self.finalized[block.header.height] = block.digest
            while len(self.finalized) > self.config.finalized_kept_max:
                self.finalized.popitem(last=False)
            signers = tuple(sorted(block.sigs))
            effects.append(Finalize(block.header, block.digest, signers,
                                    tuple(block.sigs[i] for i in signers), block.txs))
            effects.extend(self._settle())
            self._forget()

    def _settle(self) -> list[Effect]:
        """Settle the next reward batch once it closed ``reward_delay_blocks`` ago."""
        size = self.config.reward_batch_blocks
        b = self.settled_batches + 1
        last = b * size
        if self.finalized_height < last + self.config.reward_delay_blocks:
            return []
        counts = [0] * self.committee.size
        for h in range(last - size + 1, last + 1):
            for a in self.blocks[h].authors:
                counts[a] += 1
        total = self.config.reward_per_block * size
        weight = sum(counts) or 1
        amounts = [total * c // weight for c in counts]
        remainder = total - sum(amounts) if sum(counts) else 0
        for i in range(remainder):  # deterministic: lowest indices with work get the dust
            amounts[[j for j, c in enumerate(counts) if c][i % sum(1 for c in counts if c)]] += 1
        self.settled_batches = b
        payouts = tuple((i, a) for i, a in enumerate(amounts) if a)
        assert sum(a for _, a in payouts) in (0, total)
        return [SettleRewards(b, last - size + 1, last, payouts)]

    def _forget(self) -> None:
        """Keep only blocks a pending reward batch or notarisation still needs."""
        keep_from = self.settled_batches * self.config.reward_batch_blocks + 1
        for h in [h for h in self.blocks if h < keep_from and h < self.finalized_height]:
            del self.blocks[h]

    def invariants(self) -> None:
        """Checks run after every step."""
        assert self.finalized_height <= self.height
        assert self.settled_batches * self.config.reward_batch_blocks <= self.finalized_height + self.config.reward_batch_blocks
        tip = self.blocks.get(self.height)
        if tip is not None and tip.digest != self.parent:
            raise LocalBug("chain tip is not the last built block")
        assert len(self.early) <= self.config.future_heights_max
