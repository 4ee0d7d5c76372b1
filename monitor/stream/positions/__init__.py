"""The positions feature (placement, keeper, books, partials); see feature.py."""

from monitor.stream.positions.feature import Positions

__all__ = ["Positions"]
