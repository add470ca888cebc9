@0xb9924a2101fe0fdd;
# Cybergraph state transactions (issue 4).
#
# A signed transaction is SignedTx: the *bytes* of a TxBody message plus an Ed25519
# signature over exactly those bytes and the signer's public key. The body is never
# re-encoded before verification. Link batches are flat byte arrays (n x 36-byte binary
# CIDv1), never one struct per link.

struct TxBody {
  chainId @0 :Text;          # must equal the chain's id (cross-chain replay protection)
  neuron @1 :Data;           # 20-byte address = BLAKE3-derive(pubkey)[:20]
  nonce @2 :UInt64;          # must equal the account's next nonce (replay protection)
  fee @3 :UInt64;            # burned; must be >= the chain's fee_min
  expiryHeight @4 :UInt64;   # last block height at which the tx may be included
  union {
    link @5 :LinkBatch;      # add cyberlinks (neuron, from[i], to[i])
    unlink @6 :LinkBatch;    # remove cyberlinks previously made by this neuron
    transfer @7 :Transfer;   # move tokens
  }
}

struct LinkBatch {
  froms @0 :Data;            # n x 36 bytes, binary CIDv1 raw/BLAKE3
  tos @1 :Data;              # n x 36 bytes, same n
}

struct Transfer {
  to @0 :Data;               # 20-byte address
  amount @1 :UInt64;
}

struct SignedTx {
  body @0 :Data;             # bytes of a TxBody message (what the signature covers)
  signature @1 :Data;        # 64 bytes Ed25519
  publicKey @2 :Data;        # 32 bytes Ed25519
}

# ---------------------------------------------------------------- state actor messages
# Bulk fields are flat little-endian arrays in Data (n rows of a fixed width).

struct FocusSliceUpdate {
  shard @0 :UInt32;
  cids @1 :Data;             # m x 36 bytes
  values @2 :Data;           # m x u64 LE fixed-point focus
}

struct ApplyBlock {
  height @0 :Int64;
  txs @1 :List(Data);        # SignedTx bytes, in consensus order
  focus @2 :List(FocusSliceUpdate);
}

struct BlockApplied {
  height @0 :Int64;
  root @1 :Data;             # 32-byte state root after the block
  status @2 :Data;           # one u8 per tx: 0 applied, else 1 + Reject ordinal
  deltaNeuron @3 :Data;      # n x 20 bytes
  deltaSrc @4 :Data;         # n x 36 bytes
  deltaDst @5 :Data;         # n x 36 bytes
  deltaSign @6 :Data;        # n x i8 (+1 link, -1 unlink)
  replayed @7 :Bool;         # the block was already committed (idempotent re-delivery)
}

struct Subscribe {
  node @0 :Text;             # where to tell BlockApplied after each committed block
  path @1 :Text;
}

struct GetHead {}

struct Head {
  height @0 :Int64;          # -1 before genesis
  root @1 :Data;
}

struct GetAccount {
  address @0 :Data;
}

struct Account {
  address @0 :Data;
  balance @1 :UInt64;
  nonce @2 :UInt64;
  linkCount @3 :UInt64;
}

struct GetLinks {
  cid @0 :Data;
  outgoing @1 :Bool;
}

struct Links {
  neuron @0 :Data;           # n x 20
  src @1 :Data;              # n x 36
  dst @2 :Data;              # n x 36
}

struct GetFocus {
  cid @0 :Data;
}

struct Focus {
  cid @0 :Data;
  found @1 :Bool;
  value @2 :UInt64;
}

struct GetProof {
  keypath @0 :Data;
}

struct ProofReply {
  height @0 :Int64;
  root @1 :Data;
  found @2 :Bool;
  value @3 :Data;
  proof @4 :Data;            # Proof.to_bytes()
}
