"""Uniswap v2 pairs as a source of observed market depth (the `depth` topic); see adapter.py."""
