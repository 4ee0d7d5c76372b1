"""Which depth an asset's cascade projections use: its observed pools (the `depth` topic) when
there are any, else the configured model; the one question projections ask (`depth_for`), pure
so that the single-asset projection, the joint contagion and the truth test share it.

An asset's observed pools are those pairing it with a quote asset (`cascade.depth_quotes`:
the pools price it in what its USD oracle follows). Several pools are combined into one
constant-product pool holding their summed reserves at their reserve-weighted fee
(monitor.risk.depth.pooled_depth: exact for equal fees, as arbitrage keeps the pools at one
spot and a sale split in proportion to the reserves moves each alike). A quote asset keeps its
configured depth: these pools do not move its USD price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from monitor.config import AssetConfig
from monitor.risk.depth import DepthModel, pooled_depth
from monitor.wire import PoolReserves, is_newer

DepthSource = Literal["observed", "configured", "none"]


@dataclass(frozen=True)
class DepthProvenance:
    """Where an asset's depth comes from, with the pools (and reserves) it was built from."""

    source: DepthSource
    pools: tuple[PoolReserves, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The form served under `depth` in GET /cascades/{asset}/."""
        return {"source": self.source,
                "pools": [{"pool": p.pool, "protocol": p.protocol, "assets": list(p.assets),
                           "reserves": list(p.reserves), "fee": p.fee,
                           "version": list(p.version), "timestamp": p.timestamp}
                          for p in self.pools]}


class ObservedDepth:
    """The latest reserves of every pool seen, and the depth each asset gets from them."""

    def __init__(self, assets: Mapping[str, AssetConfig], quotes: Iterable[str]) -> None:
        self.assets, self.quotes = assets, frozenset(quotes)
        self.pools: dict[str, PoolReserves] = {}

    def offer(self, reserves: PoolReserves) -> bool:
        """Keep `reserves` if newer than the pool's held ones; True if it was."""
        held = self.pools.get(reserves.pool)
        if not is_newer(reserves.version, held.version if held else None):
            return False
        self.pools[reserves.pool] = reserves
        return True

    def priced_assets(self, reserves: PoolReserves) -> tuple[str, ...]:
        """The assets whose observed depth the pool is part of (its non-quote side)."""
        first, second = reserves.assets
        if (first in self.quotes) == (second in self.quotes):
            return ()
        return (second,) if first in self.quotes else (first,)

    def pools_of(self, asset: str) -> tuple[PoolReserves, ...]:
        """The asset's observed pools holding some of it, by address."""
        return tuple(p for _, p in sorted(self.pools.items())
                     if asset in self.priced_assets(p) and (p.reserve_of(asset) or 0.0) > 0)

    def depth_for(self, asset: str) -> tuple[DepthModel | None, DepthProvenance]:
        """The depth model of `asset` and where it comes from (None: no depth at all)."""
        pools = self.pools_of(asset)
        if pools:
            return (pooled_depth((p.reserve_of(asset) or 0.0, p.fee) for p in pools),
                    DepthProvenance("observed", pools))
        configured = self.assets.get(asset)
        model = configured.depth_model() if configured else None
        return model, DepthProvenance("configured" if model is not None else "none")

    def model_for(self, asset: str) -> DepthModel | None:
        """The depth model alone (what a joint projection asks for each asset it moves)."""
        return self.depth_for(asset)[0]
