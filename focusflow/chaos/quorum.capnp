# Messages of the chaos package's demonstration vote protocol (focusflow.chaos.quorum).
@0xb7c5d1962970496e;

struct QPropose {
  height @0 :UInt64;
  view @1 :UInt64;
  value @2 :Text;
  sender @3 :UInt32;
}

struct QVote {
  height @0 :UInt64;
  view @1 :UInt64;
  value @2 :Text;
  voter @3 :UInt32;
}

struct QDecide {
  height @0 :UInt64;
  value @1 :Text;
  voters @2 :List(UInt32);
}

struct QTick {
}

struct QNext {
}
