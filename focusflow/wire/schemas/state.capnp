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
