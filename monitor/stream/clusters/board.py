"""The cluster board: per asset, the latest cluster partial of every positions partition and
their merge, for the assets whose partials partition this worker owns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from monitor.risk import SIDES, ClusterMap, liquidatable_within, merge_clusters
from monitor.stream.partials import ClusterPartial
from monitor.wire import Version

MOVES: Final = (0.01, 0.05, 0.10)  # price moves the liquidatable value is reported for


def liquidatable_by_move(clusters: ClusterMap, price: float) -> dict[str, dict[str, float]]:
    """{side: {move: USD}}: the value a 1 %, 5 % and 10 % move against each side liquidates."""
    return {side: {f"{move:g}": liquidatable_within(clusters, price, move, side)
                   for move in MOVES} for side in SIDES}


@dataclass
class AssetPartials:
    """One asset's partials by positions partition, their merge (cached), and the board's
    change count at the last partial stored (what an answer made from them is keyed by)."""

    partials: dict[int, ClusterPartial] = field(default_factory=dict)
    merged: ClusterMap | None = None
    revision: int = 0

    def updated_at(self) -> float:
        """When the newest partial was built (epoch seconds)."""
        return max((p.built_at for p in self.partials.values()), default=0.0)

    def price_versions(self) -> dict[str, Version]:
        """Per input asset, the oldest price version any partial's levels were computed with:
        every level reflects at least that price."""
        oldest: dict[str, Version] = {}
        for partial in self.partials.values():
            for asset, version in partial.price_versions.items():
                held = oldest.get(asset)
                oldest[asset] = version if held is None else min(held, version)
        return oldest


@dataclass
class ClusterBoard:
    """Partials and merged cluster maps, keyed by asset; `changes` counts the partials stored
    (never reset, so no two states of an entry share a revision)."""

    assets: dict[str, AssetPartials] = field(default_factory=dict)
    changes: int = 0

    def put(self, partial: ClusterPartial) -> bool:
        """Store a partial unless an equally new or newer one is held; True when stored."""
        entry = self.assets.setdefault(partial.asset, AssetPartials())
        held = entry.partials.get(partial.partition)
        if held is not None and held.built_at >= partial.built_at:
            return False
        entry.partials[partial.partition] = partial
        entry.merged = None
        self.changes += 1
        entry.revision = self.changes
        return True

    def holds(self, partial: ClusterPartial) -> bool:
        """Whether the partial held for its asset and partition is this one (built then)."""
        entry = self.assets.get(partial.asset)
        held = entry.partials.get(partial.partition) if entry is not None else None
        return held is not None and held.built_at == partial.built_at

    def merged(self, asset: str) -> ClusterMap | None:
        """The asset's clusters over every partition (merged lazily, cached until a change)."""
        entry = self.assets.get(asset)
        if entry is None or not entry.partials:
            return None
        if entry.merged is None:
            entry.merged = merge_clusters(p.clusters for p in entry.partials.values())
        return entry.merged

    def entry(self, asset: str) -> AssetPartials | None:
        """The asset's partials, if any are held."""
        return self.assets.get(asset)

    def clear(self) -> None:
        """Forget everything (before a rebuild from the partials table)."""
        self.assets.clear()
