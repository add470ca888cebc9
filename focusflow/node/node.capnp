# Messages of a live node's own actors: the consensus link between validator actors on
# different hosts, the client API, block sync and read-only queries.
#
# Compatibility: fields are only appended; struct ids are registry keys (keep them).
@0x801aa843c6945d88;

# One consensus hop (the consensus core's own Cap'n Proto Message, nested as Data). The
# sender's validator index is NOT taken from here: it is the node the transport
# authenticated, mapped through the genesis.
struct ConsensusFrame {
  data @0 :Data;
}

# The consensus core asked to be woken (a SetTimer effect) or the sync timer fired.
struct CoreTick {
  seq @0 :UInt64;
}

struct SyncTick {
  seq @0 :UInt64;
}

# Client API: signed transactions (state.capnp SignedTx bytes) with their focus tags.
struct SubmitTxs {
  txs @0 :List(Data);
  focus @1 :List(UInt32);
}

struct SubmitReply {
  accepted @0 :UInt32;
  rejected @1 :UInt32;
  reason @2 :Text;      # first rejection reason, empty if none
}

# Block sync: "send me finalized blocks from this height on".
struct BlocksFrom {
  height @0 :UInt64;
  countMax @1 :UInt32;
}

struct BlockRecord {
  height @0 :UInt64;
  header @1 :Data;          # the exact signed BlockHeader bytes
  digest @2 :Data;          # BLAKE3(DOMAIN_BLOCK, header)
  txs @3 :List(Data);
  signers @4 :List(UInt32); # validator indices whose shares notarised it
  signatures @5 :List(Data);
}

struct Blocks {
  records @0 :List(BlockRecord);
  tip @1 :UInt64;           # the sender's finalized height
}

# Read-only queries answered as JSON text (operators' and clients' view).
struct Query {
  kind @0 :Text;            # status | block | links | balance | finality | top
  arg @1 :Text;
}

struct QueryReply {
  json @0 :Text;
}

# The validator's own: a blocking job it handed to a worker thread (SQLite commit with
# fsync) finished; the job itself stays in the actor's memory, keyed by ``seq``.
struct IoDone {
  seq @0 :UInt64;
}

# A validator's own share of a block it signed before a restart and no log holds yet,
# with the block (issue 16): sent while it follows. One share only, the sender's; a peer
# counts it toward finishing the same block or, backed by more than a third of the
# stake, adopts the block (node/catchup.py).
struct OfferedBlock {
  record @0 :BlockRecord;
}
