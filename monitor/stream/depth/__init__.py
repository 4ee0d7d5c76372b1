"""The depth feature (observed pools, depth_for); see feature.py and observed.py."""

from monitor.stream.depth.feature import Depth
from monitor.stream.depth.observed import DepthProvenance, ObservedDepth

__all__ = ["Depth", "DepthProvenance", "ObservedDepth"]
