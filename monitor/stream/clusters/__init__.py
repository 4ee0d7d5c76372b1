"""The clusters feature (partials, board, levels view); see feature.py."""

from monitor.stream.clusters.feature import Clusters

__all__ = ["Clusters"]
