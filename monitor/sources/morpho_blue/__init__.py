"""Morpho Blue: its events, its isolated markets (params, tokens), positions read at pinned blocks
with interest accrued as the contract accrues it, and each market's oracle polled for its price,
behind the adapter the EVM follower drives."""
