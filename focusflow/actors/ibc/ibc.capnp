@0xb6f800a16b2b3d41;
# Wire schema of the IBC-style ordered channels (focusflow.actors.ibc).
#
# Packets, headers and proofs travel as nested bytes (Data): a header's signature covers
# the header's own bytes, never a re-encoding, and a relayer can forward what it fetched
# without understanding it.

# One packet of an ordered channel.
struct Packet {
  sourceChannel @0 :Text;
  destChannel @1 :Text;
  sequence @2 :UInt64;       # 1, 2, 3, ... per channel
  timeoutNs @3 :UInt64;      # receiver's header time after which it refuses the packet
  data @4 :Data;             # the application's bytes (a SupplyRank claim)
}

# What a chain signs: its state root at a height, with its time.
struct HeaderBody {
  chain @0 :Text;
  height @1 :UInt64;
  root @2 :Data;             # 32-byte SMT root
  timeNs @3 :UInt64;
}

# A signed header: the body's bytes and an Ed25519 signature over exactly them.
struct Header {
  body @0 :Data;
  signature @1 :Data;
}

# Relayer -> chain: unacknowledged packets of `channel` from `fromSeq` on.
struct OutboxQuery {
  channel @0 :Text;
  fromSeq @1 :UInt64;
  countMax @2 :UInt32;
}

# Chain -> relayer: the packets with inclusion proofs of their commitments, all against
# `header`'s root.
struct Outbox {
  header @0 :Data;
  packets @1 :List(Data);
  proofs @2 :List(Data);
}

# Relayer -> chain: acknowledgements written for packets received on `channel`.
struct AckQuery {
  channel @0 :Text;
  fromSeq @1 :UInt64;
  countMax @2 :UInt32;
}

struct AckOutbox {
  header @0 :Data;
  packets @1 :List(Data);
  acks @2 :List(Data);
  proofs @3 :List(Data);
}

# Relayer -> receiving chain: prove that packet `sequence` was never received on `channel`.
struct ReceiptQuery {
  channel @0 :Text;
  sequence @1 :UInt64;
}

struct ReceiptAnswer {
  header @0 :Data;
  received @1 :Bool;
  proof @2 :Data;
}

# Relayer -> chain: where the channel stands.
struct StatusQuery {
  channel @0 :Text;
}

struct ChannelStatus {
  channel @0 :Text;
  nextSend @1 :UInt64;
  nextRecv @2 :UInt64;
  nextAck @3 :UInt64;
  closed @4 :Bool;
  timeNs @5 :UInt64;
}

# Relayer -> receiving chain.
struct RecvPacket {
  packet @0 :Data;
  proof @1 :Data;
  header @2 :Data;
}

# Relayer -> sending chain.
struct AckPacket {
  packet @0 :Data;
  ack @1 :Data;
  proof @2 :Data;
  header @3 :Data;
}

# Relayer -> sending chain: the receiver's header is past the timeout and proves absence.
struct TimeoutPacket {
  packet @0 :Data;
  proof @1 :Data;
  header @2 :Data;
}
