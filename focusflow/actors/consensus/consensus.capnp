@0xeae42ec3e3e253a4;
# Wire schema of the consensus cores (mempool DAG, fast-path BFT, Snowball fallback, blocks).
#
# Rules (ARCHITECTURE.md): every hop is one of these structs; bulk data travels in Data
# fields as little-endian numpy arrays; a signature covers bytes, never a re-encoded
# struct, so a signed payload is nested as Data + signature + public key (`Signed`).

struct Signed {
  payload @0 :Data;      # the exact bytes that were signed (an encoded inner struct)
  signature @1 :Data;    # Ed25519, 64 bytes
  publicKey @2 :Data;    # Ed25519 verify key, 32 bytes
}

# A batch of client transactions, sorted by focus tag (highest first). Columnar:
# focus: uint32 LE[n]; offsets: uint32 LE[n+1] into payloads; payloads: concatenated bytes.
struct Batch {
  focus @0 :Data;
  offsets @1 :Data;
  payloads @2 :Data;
}

# One DAG vertex proposal: a validator's header for one round.
struct Header {
  round @0 :UInt64;
  author @1 :UInt16;
  parents @2 :List(Data);   # digests of certificates of round-1 (2f+1 stake)
  batches @3 :List(Batch);
  anchorVote @4 :Data;      # odd rounds: digest of the anchor of round-1 voted for; empty = skip
}

struct VoteSig {
  voter @0 :UInt16;
  signature @1 :Data;
}

# A vote on a header: the voter signs the header digest (domain-separated BLAKE3).
struct Vote {
  headerDigest @0 :Data;
  round @1 :UInt64;
  author @2 :UInt16;
  voter @3 :UInt16;
  signature @4 :Data;
  publicKey @5 :Data;
}

# A header (signed bytes) with 2f+1 stake of votes.
struct Certificate {
  header @0 :Signed;
  votes @1 :List(VoteSig);
}

struct CertRequest {
  digests @0 :List(Data);
}

struct CertResponse {
  certificates @0 :List(Certificate);
}

# Snowball sampling for the anchor of one slot (an even round) in fallback mode.
struct PollQuery {
  slot @0 :UInt64;
  nonce @1 :UInt64;
}

struct PollReply {
  slot @0 :UInt64;
  nonce @1 :UInt64;
  preference @2 :Data;     # certificate digest; empty = skip
}

struct BlockHeader {
  height @0 :UInt64;
  parent @1 :Data;         # digest of the previous block header (32 zero bytes at height 1)
  stateRoot @2 :Data;
  daRoot @3 :Data;
  piRoot @4 :Data;
  anchor @5 :Data;         # digest of the committed anchor certificate
  anchorRound @6 :UInt64;
  reputation @7 :List(Int32);  # leader-score delta of the anchor per validator (bft/reputation.py)
}

# A notarisation share: Signed.payload is the encoded BlockHeader.
struct BlockSig {
  voter @0 :UInt16;
  signed @1 :Signed;
}

struct ClientTx {
  payload @0 :Data;
  focus @1 :UInt32;
  client @2 :UInt64;
}

struct TxReject {
  txDigest @0 :Data;
  focus @1 :UInt32;
  cutoff @2 :UInt32;
  reason @3 :Text;
}

# Envelope of every validator-to-validator hop.
struct Message {
  sender @0 :UInt16;
  union {
    header @1 :Signed;
    vote @2 :Vote;
    certificate @3 :Certificate;
    certRequest @4 :CertRequest;
    certResponse @5 :CertResponse;
    pollQuery @6 :PollQuery;
    pollReply @7 :PollReply;
    blockSig @8 :BlockSig;
  }
}

# ---- actor shell messages (focusflow/actors/consensus/actor.py) ----

# One validator-to-validator hop between actor shells: ``data`` is an encoded Message.
struct Frame {
  sender @0 :UInt16;
  data @1 :Data;
}

# Client transactions for a validator's mempool (columnar, like Batch).
struct SubmitTxs {
  focus @0 :Data;
  offsets @1 :Data;
  payloads @2 :Data;
  client @3 :UInt64;
}

# The shell's timer: call the core's tick.
struct ConsensusTick {
  unused @0 :Bool;
}

# The sim scenario's client timer (focusflow/actors/consensus/scenario.py).
struct ClientTick {
  unused @0 :Bool;
}
