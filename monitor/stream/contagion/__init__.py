"""The contagion feature (coordinator, per-partition steps, served projections); see feature.py."""

from monitor.stream.contagion.feature import Contagion

__all__ = ["Contagion"]
