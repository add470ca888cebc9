@0xcc9ed782123c1c7f;
# Wire schema of the sharded focus computation (focusflow.actors.rank).
#
# Bulk data travels as flat little-endian numpy arrays in Data fields (never one struct per
# edge or particle). Every message of the iteration carries (epoch, round): an epoch is one
# attempt at one block; a restarted worker or a lost message makes the coordinator open a
# new epoch or retransmit, and receivers drop what belongs to an older epoch.

# Coordinator -> shard: the shard's part of one block's aggregated edge delta.
# Every edge is sent to the shard that owns its source (that shard keeps the out-weight).
struct ShardDelta {
  height @0 :UInt64;
  part @1 :UInt32;
  parts @2 :UInt32;
  nLocal @3 :UInt32;        # the shard's particle count after the block
  localSrc @4 :Data;        # <u4 local ids: edges with both ends in the shard
  localDst @5 :Data;        # <u4
  localDw @6 :Data;         # <f8 change of W
  localDcount @7 :Data;     # <i4 change of the link count
  crossSrc @8 :Data;        # <u4 local source
  crossPeer @9 :Data;       # <u2 shard owning the destination
  crossDst @10 :Data;       # <u4 destination's local id in that shard
  crossDw @11 :Data;        # <f8
  crossDcount @12 :Data;    # <i4
}

# Coordinator -> shard: begin (or, repeated, resend) epoch `epoch` on block `height`.
struct Start {
  epoch @0 :UInt64;
  height @1 :UInt64;
  nGlobal @2 :UInt64;
  damping @3 :Float64;
}

# Shard -> shard: the mass (x_i * W_ij summed per destination) crossing to the receiver in
# one round, split in parts only when it exceeds the message limit.
struct Mass {
  epoch @0 :UInt64;
  round @1 :UInt32;
  fromShard @2 :UInt16;
  part @3 :UInt32;
  parts @4 :UInt32;
  index @5 :Data;           # <u4 destination local ids (unique)
  mass @6 :Data;            # <f8
}

# Shard -> coordinator: the small global reduction of one round.
struct Report {
  epoch @0 :UInt64;
  round @1 :UInt32;
  shard @2 :UInt16;
  residual @3 :Float64;     # ||pi_t - pi_{t-1}||_1 over the shard (NaN in round 0)
  dangling @4 :Float64;     # sum of pi_t over the shard's dangling particles
  total @5 :Float64;        # sum of pi_t over the shard
  incarnation @6 :UInt64;   # the worker incarnation that computed it
}

# Coordinator -> shard: every report of `round` arrived; finish the round with this
# global dangling mass and normalisation (1 / sum of pi_t). A repeated Go is also a
# request to resend.
struct Go {
  epoch @0 :UInt64;
  round @1 :UInt32;
  dangling @2 :Float64;     # sum of pi_t over dangling particles, all shards
  scale @3 :Float64;        # 1 / sum of pi_t, all shards
}

# Coordinator -> shard: stop at `round` (converged or capped) and send the slice.
struct Stop {
  epoch @0 :UInt64;
  round @1 :UInt32;
  converged @2 :Bool;
}

# Shard -> coordinator: the shard's pi values in local order, in parts.
struct Slice {
  epoch @0 :UInt64;
  shard @1 :UInt16;
  part @2 :UInt32;
  parts @3 :UInt32;
  offset @4 :UInt32;
  values @5 :Data;          # <f8
}

# Shard -> coordinator: a (re)started worker, rebuilt from the store at `height`.
struct Hello {
  shard @0 :UInt16;
  height @1 :UInt64;
  incarnation @2 :UInt64;
  backend @3 :Text;
}

# Chaos / tests -> shard: fail now ("crash": a bug, "gpu": a device failure).
struct Fault {
  kind @0 :Text;
}

# Driver (state side) -> coordinator: one block's link deltas and changed stakes.
struct RankBlock {
  height @0 :UInt64;
  neuron @1 :Data;          # (n, 20) u8
  src @2 :Data;             # (n, 36) u8
  dst @3 :Data;             # (n, 36) u8
  sign @4 :Data;            # <i1: +1 link, -1 unlink
  stakeNeuron @5 :Data;     # (k, 20) u8
  stake @6 :Data;           # <f8
}

# Coordinator -> listeners: the outcome of one block.
struct Committed {
  height @0 :UInt64;
  root @1 :Data;            # 32-byte BLAKE3 merkle root of the quantised pi (empty: none)
  converged @2 :Bool;
  iterations @3 :UInt32;
  residual @4 :Float64;
  epochs @5 :UInt32;
}

# Tick of the coordinator's retransmit timer.
struct RankTick {
}
