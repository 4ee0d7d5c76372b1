"""Aave V3: the pool's events, its market registry, and positions and oracle prices read at
pinned blocks, behind the adapter the EVM follower drives."""
