"""The cluster board: per asset, the latest cluster partial of every positions partition and
their merge, for the assets whose cluster-partials partition this worker owns."""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.risk import ClusterMap, merge_clusters


@dataclass
class AssetPartials:
    """One asset's partials by positions partition, and when each was built."""

    maps: dict[int, ClusterMap] = field(default_factory=dict)
    built_at: dict[int, float] = field(default_factory=dict)
    merged: ClusterMap | None = None

    def updated_at(self) -> float:
        """When the newest partial was built (epoch seconds)."""
        return max(self.built_at.values(), default=0.0)


@dataclass
class ClusterBoard:
    """Partials and merged cluster maps, keyed by asset."""

    assets: dict[str, AssetPartials] = field(default_factory=dict)

    def put(self, asset: str, partition: int, clusters: ClusterMap, built_at: float) -> bool:
        """Store a partial unless an equally new or newer one is held; True when stored."""
        entry = self.assets.setdefault(asset, AssetPartials())
        if entry.built_at.get(partition, float("-inf")) >= built_at:
            return False
        entry.maps[partition] = clusters
        entry.built_at[partition] = built_at
        entry.merged = None
        return True

    def merged(self, asset: str) -> ClusterMap | None:
        """The asset's clusters over every partition (merged lazily, cached until a change)."""
        entry = self.assets.get(asset)
        if entry is None or not entry.maps:
            return None
        if entry.merged is None:
            entry.merged = merge_clusters(entry.maps.values())
        return entry.merged

    def updated_at(self, asset: str) -> float | None:
        """When the asset's newest partial was built, or None when unknown."""
        entry = self.assets.get(asset)
        return entry.updated_at() if entry is not None else None

    def clear(self) -> None:
        """Forget everything (before a rebuild from the partials table)."""
        self.assets.clear()
