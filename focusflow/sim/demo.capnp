# Messages of the demonstration network run by `focusflow sim` (scenario "demo").
@0xd1ef1c00d8f29cdd;

struct Gossip {
  origin @0 :Text;    # node that sent it
  seq @1 :UInt64;     # per-sender sequence number
}

struct Ack {
  count @0 :UInt64;   # how many gossips the counter has seen (this incarnation + disk)
}

struct Tick {
}

struct Crash {
  why @0 :Text;
}
