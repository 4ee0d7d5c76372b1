"""The cascades feature (projector, summaries, views); see feature.py."""

from monitor.stream.cascades.feature import Cascades

__all__ = ["Cascades"]
