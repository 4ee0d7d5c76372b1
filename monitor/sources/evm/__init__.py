"""The generic EVM follower: JSON-RPC, log decoding, log ranges, checkpoints and delivery. It
knows no protocol; adapters tell it what to watch and what to read."""
