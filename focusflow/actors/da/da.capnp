@0xc3132911a43d7a33;
# Wire schema of the data availability sampler (focusflow.actors.da).
#
# A light node or validator asks for cells of a block's extended square and gets each share
# with its proofs; full nodes answer namespace queries and gossip bad-encoding fraud proofs.
# Hashes, roots and proof nodes are raw bytes (NMT nodes: minNs ‖ maxNs ‖ 32-byte digest).

# An NMT range proof (celestiaorg/nmt's Proof, same fields).
struct NmtProof {
  start @0 :UInt32;
  end @1 :UInt32;
  nodes @2 :List(Data);            # in-order subtree roots outside [start, end)
  leafHash @3 :Data;               # set only for an absence proof
  maxNamespaceIgnored @4 :Bool;
}

# The block header fields the sampler needs (sent by consensus / header sync).
struct DaHeader {
  height @0 :UInt64;
  dataRoot @1 :Data;               # 32 bytes
  width @2 :UInt16;                # 2k
}

struct SampleRequest {
  height @0 :UInt64;
  row @1 :UInt16;
  col @2 :UInt16;
}

# One share at (row, col) with its NMT proof to the row root and the row root's RFC 6962
# path to the data root.
struct Sample {
  row @0 :UInt16;
  col @1 :UInt16;
  share @2 :Data;                  # 512 bytes
  proof @3 :NmtProof;
  rowRoot @4 :Data;
  rowRootProof @5 :List(Data);
}

struct SampleResponse {
  height @0 :UInt64;
  row @1 :UInt16;
  col @2 :UInt16;
  union {
    sample @3 :Sample;
    missing @4 :Void;              # the peer does not have (or will not give) this share
  }
}

struct FraudShare {
  position @0 :UInt16;
  share @1 :Data;
  proof @2 :NmtProof;              # against the orthogonal axis root
  orthRoot @3 :Data;
  orthRootProof @4 :List(Data);
}

enum Axis {
  row @0;
  col @1;
}

# Bad-encoding fraud proof: k shares of one axis that do not decode to its committed root.
struct BadEncodingFraudProof {
  height @0 :UInt64;
  axis @1 :Axis;
  index @2 :UInt16;
  width @3 :UInt16;
  axisRoot @4 :Data;
  axisRootProof @5 :List(Data);
  shares @6 :List(FraudShare);
}

# ---- actor-only messages (focusflow.actors.da.actor) ----

# Timer message of the sampler actor: run the core's tick.
struct SamplerTick {
  unused @0 :Bool;
}

# Ask a sampler for its decision on one block.
struct VerdictQuery {
  height @0 :UInt64;
}

# A sampler's decision (also told to its subscriber when made).
struct Verdict {
  height @0 :UInt64;
  dataRoot @1 :Data;
  decided @2 :Bool;                # false: still sampling or unknown height
  available @3 :Bool;
  samplesVerified @4 :UInt16;
  reason @5 :Text;
}

# A producer hands its original k x k square to a share server (bulk: one Data field).
struct PublishSquare {
  height @0 :UInt64;
  epoch @1 :UInt64;
  k @2 :UInt16;
  shares @3 :Data;                 # k * k * 512 bytes, row-major
}

# The server's answer: the header fields light nodes need.
struct Published {
  header @0 :DaHeader;
}

# Tell a share server the current epoch: it archives and drops per its pinning policy.
struct PruneShares {
  epoch @0 :UInt64;
}

# ---- namespace retrieval (full nodes and archives answer; light nodes verify) ----

struct DahRequest {
  height @0 :UInt64;
}

# The data availability header: check it against the block's data root before use.
struct DahResponse {
  height @0 :UInt64;
  found @1 :Bool;
  rowRoots @2 :List(Data);
  colRoots @3 :List(Data);
}

struct NamespaceRequest {
  height @0 :UInt64;
  namespace @1 :Data;              # 29 bytes
}

struct NamespaceRowProof {
  row @0 :UInt16;
  shares @1 :List(Data);
  proof @2 :NmtProof;
}

struct NamespaceResponse {
  height @0 :UInt64;
  namespace @1 :Data;
  found @2 :Bool;                  # false: this node does not (or no longer) hold it
  rows @3 :List(NamespaceRowProof);
}
