@0xe87ce3eafd4162cf;
# Wire schema of the chain package's own simulator messages
# (focusflow/actors/chain/scenario.py). Validators talk through the consensus schema.

# The client node's submit timer.
struct ChainClientTick {
  unused @0 :Bool;
}
