"""Streaming monitor of liquidation clusters and cascades in crypto lending and perp markets."""

__version__ = "0.1.0"
