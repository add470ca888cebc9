"""A live node: configuration, the validator actor, its chain, HTTP API and client."""
