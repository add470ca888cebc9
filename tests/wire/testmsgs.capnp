# Message types used by the runtime's tests (not shipped in the package).
@0xd3b670692b1e2cc9;

enum Color {
  red @0;
  green @1;
  blue @2;
}

struct Point {
  x @0 :Int32;
  y @1 :Int32;
}

struct Everything {
  flag @0 :Bool;
  small @1 :Int8;
  big @2 :UInt64;
  ratio @3 :Float64;
  name @4 :Text;
  blob @5 :Data;
  color @6 :Color;
  where @7 :Point;
  maybe @8 :Point;
  numbers @9 :List(Int64);
  words @10 :List(Text);
  points @11 :List(Point);
  owner @12 :ActorAddress;
  weights @13 :Data;
}

struct ActorAddress {
  node @0 :Text;
  path @1 :Text;
}

struct EdgeBatch {
  src @0 :Data;
  dst @1 :Data;
  weight @2 :Data;
}

struct Nest {
  child @0 :Nest;
  depth @1 :UInt32;
}

struct Req {
  n @0 :Int64;
  text @1 :Text;
}

struct Resp {
  n @0 :Int64;
  text @1 :Text;
}

struct Flat {
  flag @0 :Bool;
  small @1 :Int8;
  name @2 :Text;
  other @3 :Bool;
  u16 @4 :UInt16;
  f32 @5 :Float32;
  f64 @6 :Float64;
  color @7 :Color;
  blob @8 :Data;
  big @9 :UInt64;
  i32 @10 :Int32;
}

struct Holder {
  inner @0 :Everything;
}

# A message whose Python class validates values in __post_init__ (decoders must run it).
struct Checked {
  n @0 :Int64;
}

# Numbers only, declared out of byte order (the hop codec's one-pack writer and frame
# templates must map each value to its field).
struct Mixed {
  a @0 :Int8;
  b @1 :Float64;
  c @2 :UInt16;
  d @3 :Int64;
  e @4 :Float32;
  f @5 :UInt32;
}
