"""Network components: each a sans-IO ``core`` state machine plus a thin actor shell."""
