@0xb91e6434ffec1bf3;
# Wire schema of the semantic rollups (focusflow.actors.rollup).
#
# Bulk data (links, pi values) travels as flat little-endian numpy arrays in Data fields.
# Particles and neurons are 64-bit keys (murmur3-64 of the CID / address, see bucket.py).

# Client -> sequencer: links of one bucket. The bucket is an explicit id or, failing
# that, the 29-byte namespace of the links' particles.
struct SubmitLinks {
  bucketId @0 :Data;
  particleNs @1 :Data;
  neuron @2 :Data;          # <u8
  src @3 :Data;             # <u8
  dst @4 :Data;             # <u8
  fee @5 :UInt64;
}

# Sequencer -> client: how many links were taken (the rest was refused: overload).
struct Submitted {
  accepted @0 :UInt32;
  refused @1 :UInt32;
}

# One ordered batch of a bucket: the blob the sequencer publishes to the DA grid under
# its namespace. The claim pins each batch by the data root of its square.
struct Batch {
  bucket @0 :Data;
  seq @1 :UInt64;           # 1, 2, 3, ... per bucket
  neuron @2 :Data;          # <u8
  src @3 :Data;             # <u8
  dst @4 :Data;             # <u8
}

# The settlement claim: the bucket's local pi after `period`, as a delta against the
# previous claim (parent), with what a challenger needs to re-execute it.
struct SupplyRank {
  bucket @0 :Data;
  period @1 :UInt64;        # 1, 2, 3, ...
  parent @2 :Data;          # root of the previous claim (32 zero bytes for the first)
  nParticles @3 :UInt64;
  index @4 :Data;           # <u4 entries whose value changed (or are new)
  value @5 :Data;           # <u8 their fixed-point values (scale 2^60)
  root @6 :Data;            # kernels merkle root of the whole fixed-point vector
  weightMass @7 :Float64;   # n / (1 - d + d * dangling mass): the bucket's share weight
  daRoots @8 :Data;         # 32-byte data roots of the period's batches, in order
  firstBatch @9 :UInt64;    # seq of the first batch in daRoots
  links @10 :UInt64;        # links ordered in the period (demand)
  fee @11 :UInt64;          # fees collected in the period
  retire @12 :Bool;         # the rollup leaves: drop the bucket after acceptance
  sequencer @13 :Data;      # the sequencer chain's public key (whose bond is at stake)
}

# Challenger -> hub: "claim (bucket, period) with root is outside its residual bound".
# Compact: it names the claim; the judge re-executes from the DA data the claim pins.
struct FraudProof {
  bucket @0 :Data;
  period @1 :UInt64;
  root @2 :Data;
  residual @3 :Float64;     # what the challenger measured (informative)
  challenger @4 :Text;
}

# -> DA grid: publish a blob under a namespace; the answer is the square's data root.
struct Publish {
  namespace @0 :Data;
  blob @1 :Data;
}

struct Published {
  dataRoot @0 :Data;
  width @1 :UInt32;
}

# -> DA grid: the original k x k shares of the square with this data root.
struct FetchSquare {
  dataRoot @0 :Data;
}

struct Square {
  found @0 :Bool;
  k @1 :UInt32;
  shares @2 :Data;          # k*k*512 bytes, row-major
}

# Timer / probe messages of the actor shells.
struct RollupTick {
  kind @0 :UInt8;
}

# Hub -> challenger (subscription): a claim entered its challenge window.
struct ClaimNotice {
  claim @0 :Data;           # bytes of the SupplyRank
  hub @1 :Text;             # node of the hub
  deadlineNs @2 :UInt64;
}

# Anyone -> hub: the merged state (tests, CLI, probes).
struct HubQuery {
  kind @0 :UInt8;
}

struct HubState {
  height @0 :UInt64;
  root @1 :Data;
  buckets @2 :List(Data);
  periods @3 :Data;         # <u8 accepted period per bucket
  slashed @4 :List(Data);
  credits @5 :Data;         # <u8 fee credit per bucket
  pool @6 :UInt64;
  pi @7 :Data;              # <u8 merged fixed-point vector
}

# One durable event of a hub's log (replayed on restart).
struct HubEvent {
  kind @0 :UInt8;
  nowNs @1 :UInt64;
  a @2 :Data;
  b @3 :Data;
  flag @4 :Bool;
}

# Scenario -> link client: start or stop a bucket's workload (rollups come and go).
struct ClientControl {
  bucket @0 :Text;
  on @1 :Bool;
}

# One durable event of a sequencer's log (replayed on restart): a batch cut (a = Batch
# bytes, n = fees it charged), a claim sent (a = SupplyRank bytes, n = packet timeout),
# an acknowledgement or timeout taken (a = the IBC message's bytes), retirement.
struct SequencerEvent {
  kind @0 :UInt8;
  a @1 :Data;
  n @2 :UInt64;
}

# Watcher -> hub: the claims of a bucket from a period on (its history, paged), or with
# no bucket the first claim still in its window of every bucket after `afterBucket`
# (paged by bucket), so a restarted watcher (or one that missed notices) can rebuild
# what it must judge.
struct ClaimsQuery {
  bucket @0 :Data;
  fromPeriod @1 :UInt64;
  afterBucket @2 :Data;
}

# Hub -> watcher: claims in (bucket, period) order; deadline 0 = already accepted.
struct ClaimsAnswer {
  claims @0 :List(Data);    # bytes of each SupplyRank
  deadlines @1 :Data;       # <u8 deadline (ns) per claim
  hub @2 :Text;
  truncated @3 :Bool;
}

# Hub -> DA grid (tell): are these squares held? The grid tells the sender back.
# Why a tell: a hub must not block its channels on an ask while the grid is down.
struct ProbeSquares {
  dataRoots @0 :List(Data);
  sentNs @1 :UInt64;        # the hub's clock when it sent the probe (echoed)
}

# DA grid -> hub: the roots of a probe that the grid holds, with the probe's time.
struct SquaresHeld {
  dataRoots @0 :List(Data);
  sentNs @1 :UInt64;
}
