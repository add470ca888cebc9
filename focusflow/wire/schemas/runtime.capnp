# The actor runtime's wire format: the envelope that carries every message on every hop
# (in the live runtime and in the simulator alike), and the runtime's system messages.
#
# Compatibility rules: fields are only ever appended (new ordinals), never renumbered or
# retyped; the struct ids below are the registry keys of the Python message types, so a
# rename of a struct must keep its id.
@0x84363e449ed39b1b;

# Kinds of envelope (Envelope.kind). Kept as UInt8 constants rather than an enum so that
# an unknown kind from a newer peer is readable and rejected by the codec explicitly.
const kindTell :UInt8 = 0;    # fire and forget
const kindAsk :UInt8 = 1;     # request; the receiver's return value is sent back
const kindReply :UInt8 = 2;   # successful answer to an ask (same correlationId)
const kindError :UInt8 = 3;   # failed answer to an ask; payload is an ErrorReply
const kindSystem :UInt8 = 4;  # runtime signal (Down, Exit, Watch, ...); bypasses mailbox bounds

struct Envelope {
  kind @0 :UInt8;
  correlationId @1 :UInt64;   # ask/reply pairing; 0 for tell and system
  senderNode @2 :Text;        # empty when sent from outside any actor
  senderPath @3 :Text;
  receiverNode @4 :Text;
  receiverPath @5 :Text;
  payloadType @6 :UInt64;     # Cap'n Proto struct id of the payload; 0 = no payload (None)
  payload @7 :Data;           # bytes of the payload message (nested as Data, see rule 3)
}

# A location-transparent actor address: node name + path on that node.
struct ActorAddress {
  node @0 :Text;
  path @1 :Text;
}

# An actor that was watched has terminated. Delivered to every watcher, also when the
# watch was set up after the death (reason "noproc").
struct Down {
  actor @0 :ActorAddress;
  reason @1 :Text;
  incarnation @2 :UInt64;     # node-unique id of the terminated incarnation; 0 if unknown
}

# A child of the receiver has terminated (the parent/child link, as OTP's EXIT signal
# delivered to a process that traps exits).
struct Exit {
  actor @0 :ActorAddress;
  reason @1 :Text;
  incarnation @2 :UInt64;
}

# Ask the receiver to stop gracefully (on_stop runs, children stop in reverse order).
struct Stop {
  reason @0 :Text;
}

# Liveness probe answered by every node's runtime.
struct Ping {
  seq @0 :UInt64;
}

struct Pong {
  seq @0 :UInt64;
}

# Remote death watch: sent to the watched actor's node.
struct Watch {
  watcher @0 :ActorAddress;
}

struct Unwatch {
  watcher @0 :ActorAddress;
}

# Payload of a kindError envelope: why an ask failed, whose fault it was.
struct ErrorReply {
  errorType @0 :Text;         # e.g. "ActorCrashed", "MailboxFull", "ActorNotFound"
  message @1 :Text;
}

# A batch of opaque byte blobs, used by benchmarks and bulk transfers: one struct per
# batch, never one per item.
struct Blob {
  data @0 :Data;
}
