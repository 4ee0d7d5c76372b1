"""Synthetic markets and price paths that drive the monitor without a live chain."""
