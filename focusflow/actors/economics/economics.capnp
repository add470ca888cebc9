@0x992336d1a59d45d0;
# Economics transactions, blocks as the economics core sees them, and block records
# (issue 10). Amounts are UInt64 base units (the ledger's supply_max is 2^64-1); split
# parts are UInt32 parts per billion in the order (burn, rewards, liquidity). Values
# that may exceed 64 bits (the 1e18-scaled price, the premium) are big-endian unsigned
# bytes in Data, empty meaning "undefined". Bulk per-entry numbers (gas amounts, focus
# gains) travel as little-endian arrays in Data, never one struct per entry.

enum Denom {
  cyb @0;
  h @1;
}

enum Choice {
  yes @0;
  no @1;
  abstain @2;
}

struct ParamChange {
  name @0 :Text;
  union {
    boolean @1 :Bool;
    integer @2 :Int64;
    split @3 :List(UInt32);   # exactly 3 parts, ppb
  }
}

struct EconTx {
  account @0 :Text;
  union {
    stake @1 :UInt64;
    unstake @2 :UInt64;
    swap :group {
      denomIn @3 :Denom;
      amountIn @4 :UInt64;
      minOut @5 :UInt64;
    }
    addLiquidity :group {
      cybMax @6 :UInt64;
      hMax @7 :UInt64;
    }
    removeLiquidity @8 :UInt64;
    claimTenure @9 :Void;
    transfer :group {
      to @10 :Text;
      denom @11 :Denom;
      amount @12 :UInt64;
    }
    propose @13 :List(ParamChange);
    vote :group {
      pid @14 :UInt64;
      choice @15 :Choice;
    }
  }
}

struct EconBlock {
  height @0 :UInt64;
  txs @1 :List(EconTx);
  gasPayers @2 :List(Text);
  gasAmounts @3 :Data;        # little-endian u64, one per payer
  focusNeurons @4 :List(Text);
  focusGains @5 :Data;        # little-endian i64, one per neuron (Δπ gain, fixed point)
}

struct EconReceipt {
  index @0 :UInt32;
  kind @1 :Text;
  ok @2 :Bool;
  error @3 :Text;
}

struct EconBlockRecord {
  height @0 :UInt64;
  split @1 :List(UInt32);
  target @2 :List(UInt32);
  premium @3 :Data;           # big-endian unsigned ppb; empty when undefined
  priceWad @4 :Data;          # big-endian unsigned, 1e18-scaled; empty when the pool is empty
  breakerTripped @5 :Bool;
  breakerReset @6 :Bool;
  gasH @7 :UInt64;
  buybackH @8 :UInt64;
  burnedCyb @9 :UInt64;
  liquidityH @10 :UInt64;
  rewardsH @11 :UInt64;
  rebatesH @12 :UInt64;
  focusH @13 :UInt64;
  tenureH @14 :UInt64;
  focusSettled @15 :UInt64;
  supplyCyb @16 :UInt64;
  supplyH @17 :UInt64;
  supplyLp @18 :UInt64;
  stakedCyb @19 :UInt64;
  receipts @20 :List(EconReceipt);
  governance @21 :List(Text);
}
