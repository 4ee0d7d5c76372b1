"""The liquidation map feature (the /map/ pages and the banded levels gauge); see feature.py."""

from monitor.stream.map.feature import LiquidationMap

__all__ = ["LiquidationMap"]
