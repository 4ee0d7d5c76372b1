"""Liquidation clusters: liquidation levels of one asset bucketed on a log-price grid, per side,
as the partial histograms one positions partition publishes and every reader merges."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from monitor.risk.positions import MissingPrice, Position
from monitor.risk.sides import SIDES, Side
from monitor.risk.valuation import position_level

FloatArray = npt.NDArray[np.float64]
DENSE_LIMIT: Final = 1 << 22  # most bins a bincount may allocate before sorting is cheaper


@dataclass(frozen=True)
class ClusterGrid:
    """The log-price grid: bucket i spans [(1 + step)^i, (1 + step)^(i + 1))."""

    step: float = 0.0025

    def __post_init__(self) -> None:
        """Refuse a step that is not a fraction in (0, 1)."""
        if not 0.0 < self.step < 1.0:
            raise ValueError(f"grid step: {self.step!r} outside (0, 1)")

    @property
    def log_step(self) -> float:
        """ln(1 + step), the bucket width in log-price."""
        return math.log1p(self.step)

    def buckets(self, prices: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Bucket index of each (positive, finite) price."""
        return np.floor(np.log(prices) / self.log_step).astype(np.int64)

    def bounds(self, bucket: int) -> tuple[float, float]:
        """(price_low, price_high) of a bucket (as aggregate computes them)."""
        edges = np.exp(np.array([bucket, bucket + 1]) * self.log_step).tolist()
        return edges[0], edges[1]


@dataclass
class ClusterLevel:
    """One bucket of one side: what liquidations with a price inside it sell (long) or buy
    (short), their USD value, the debt they repay, how many, and value by protocol.

    equity_base_usd + net_units × p is the collateral minus debt of those positions at an asset
    price p (used for bad debt); bucket is the grid index.
    """

    price_low: float
    price_high: float
    side: Side
    quantity: float
    value_usd: float
    debt_usd: float
    positions: int
    protocols: dict[str, float]
    bucket: int = 0
    equity_base_usd: float = 0.0
    net_units: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The wire form (GET /clusters/{asset}/ level, partials)."""
        return {"price_low": self.price_low, "price_high": self.price_high, "side": self.side,
                "quantity": self.quantity, "value_usd": self.value_usd,
                "debt_usd": self.debt_usd, "positions": self.positions,
                "protocols": dict(self.protocols), "bucket": self.bucket,
                "equity_base_usd": self.equity_base_usd, "net_units": self.net_units}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterLevel:
        """Parse the wire form (KeyError / TypeError / ValueError when malformed)."""
        side = data["side"]
        if side not in SIDES:
            raise ValueError(f"side: {side!r} is neither long nor short")
        protocols = data["protocols"]
        if not isinstance(protocols, Mapping):
            raise TypeError("protocols: expected an object")
        return cls(price_low=float(data["price_low"]), price_high=float(data["price_high"]),
                   side=side, quantity=float(data["quantity"]),
                   value_usd=float(data["value_usd"]), debt_usd=float(data["debt_usd"]),
                   positions=int(data["positions"]),
                   protocols={str(k): float(v) for k, v in protocols.items()},
                   bucket=int(data["bucket"]),
                   equity_base_usd=float(data.get("equity_base_usd", 0.0)),
                   net_units=float(data.get("net_units", 0.0)))


@dataclass
class ClusterMap:
    """One asset's cluster levels on a grid, sorted by price (long before short in a bucket)."""

    asset: str
    grid: ClusterGrid
    levels: list[ClusterLevel] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for topics and tables."""
        return {"asset": self.asset, "grid_step": self.grid.step,
                "levels": [level.to_dict() for level in self.levels]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterMap:
        """Parse to_dict's form (KeyError / TypeError / ValueError when malformed)."""
        levels = data["levels"]
        if not isinstance(levels, list):
            raise TypeError("levels: expected a list")
        return cls(asset=str(data["asset"]), grid=ClusterGrid(float(data["grid_step"])),
                   levels=[ClusterLevel.from_dict(level) for level in levels])


def _dense_keys(keys: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64],
                                                     npt.NDArray[np.intp]]:
    """(distinct keys ascending, index of each key among them), by bincount when compact."""
    low = int(keys.min())
    span = int(keys.max()) - low + 1
    if span > DENSE_LIMIT:
        distinct, inverse = np.unique(keys, return_inverse=True)
        return distinct, inverse.astype(np.intp)
    shifted = keys - low
    present = np.flatnonzero(np.bincount(shifted, minlength=span))
    lookup = np.empty(span, dtype=np.intp)
    lookup[present] = np.arange(present.size)
    return present + low, lookup[shifted]


@dataclass(frozen=True)
class LevelColumns:
    """Per-position levels through one asset as parallel arrays (the book's BookLevels extends
    it; build_clusters assembles one from scalar levels)."""

    price: FloatArray
    side: npt.NDArray[np.int8]
    quantity: FloatArray
    value_usd: FloatArray
    debt_usd: FloatArray
    equity_base_usd: FloatArray
    net_units: FloatArray
    protocol: npt.NDArray[np.int32]
    protocols: tuple[str, ...]


def aggregate(asset: str, grid: ClusterGrid, columns: LevelColumns) -> ClusterMap:
    """Bucket per-position levels (side 0 entries ignored) into a cluster map."""
    keep = np.flatnonzero(columns.side != 0)
    if keep.size == 0:
        return ClusterMap(asset, grid, [])
    whole = keep.size == columns.side.size

    def kept(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return a if whole else a[keep]

    keys = grid.buckets(kept(columns.price)) * 2 + (kept(columns.side) < 0)
    distinct, index = _dense_keys(keys)
    m, n_protocols = distinct.size, len(columns.protocols)

    def total(weights: FloatArray) -> list[float]:
        return np.bincount(index, weights=weights, minlength=m).tolist()  # type: ignore[no-any-return]

    value = kept(columns.value_usd)
    quantity, value_usd, debt, equity, net = (
        total(kept(w)) for w in (columns.quantity, columns.value_usd, columns.debt_usd,
                                 columns.equity_base_usd, columns.net_units))
    counts = np.bincount(index, minlength=m).tolist()
    by_protocol = np.bincount(index * n_protocols + kept(columns.protocol), weights=value,
                              minlength=m * n_protocols).reshape(m, n_protocols)
    buckets, shorts = np.divmod(distinct, 2)
    lows = np.exp(buckets * grid.log_step).tolist()
    highs = np.exp((buckets + 1) * grid.log_step).tolist()
    names = columns.protocols
    splits = [{names[p]: usd for p, usd in enumerate(row) if usd}
              for row in by_protocol.tolist()]
    levels = [ClusterLevel(*fields) for fields in zip(
        lows, highs, (SIDES[s] for s in shorts.tolist()), quantity, value_usd, debt, counts,
        splits, buckets.tolist(), equity, net, strict=True)]
    return ClusterMap(asset, grid, levels)


def build_clusters(positions: Iterable[Position], asset: str, prices: Mapping[str, float],
                   grid: ClusterGrid | None = None) -> ClusterMap:
    """Clusters from single positions (the scalar reference of PositionBook.clusters);
    positions lacking a price they need are left out, as the book leaves them out."""
    rows: list[tuple[float, int, float, float, float, float, float, int]] = []
    codes: dict[str, int] = {}
    for position in positions:
        try:
            level = position_level(position, asset, prices)
        except MissingPrice:
            continue
        if level is not None:
            code = codes.setdefault(level.protocol, len(codes))
            rows.append((level.price, 1 if level.side == "long" else -1, level.quantity,
                         level.value_usd, level.debt_usd, level.equity_base_usd,
                         level.net_units, code))
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 8)
    columns = LevelColumns(price=table[:, 0].copy(), side=table[:, 1].astype(np.int8),
                       quantity=table[:, 2].copy(), value_usd=table[:, 3].copy(),
                       debt_usd=table[:, 4].copy(), equity_base_usd=table[:, 5].copy(),
                       net_units=table[:, 6].copy(), protocol=table[:, 7].astype(np.int32),
                       protocols=tuple(codes))
    return aggregate(asset, grid or ClusterGrid(), columns)


def merge_clusters(maps: Iterable[ClusterMap]) -> ClusterMap:
    """One map from partial maps of the same asset and grid: merge(partials) == build(union)."""
    maps = list(maps)
    if not maps:
        raise ValueError("merge_clusters: no maps")
    asset, grid = maps[0].asset, maps[0].grid
    merged: dict[tuple[int, int], ClusterLevel] = {}
    for partial in maps:
        if partial.asset != asset or partial.grid != grid:
            raise ValueError(f"merge_clusters: {partial.asset}/{partial.grid.step} differs from "
                             f"{asset}/{grid.step}")
        for level in partial.levels:
            key = (level.bucket, SIDES.index(level.side))
            into = merged.get(key)
            if into is None:
                merged[key] = ClusterLevel(**{**level.__dict__,
                                              "protocols": dict(level.protocols)})
                continue
            into.quantity += level.quantity
            into.value_usd += level.value_usd
            into.debt_usd += level.debt_usd
            into.positions += level.positions
            into.equity_base_usd += level.equity_base_usd
            into.net_units += level.net_units
            for name, usd in level.protocols.items():
                into.protocols[name] = into.protocols.get(name, 0.0) + usd
    return ClusterMap(asset, grid, [merged[key] for key in sorted(merged)])


def liquidatable_within(clusters: ClusterMap, price: float, move: float, side: Side) -> float:
    """USD value of `side` levels at or beyond price moved by `move` against that side (longs
    at or above price × (1 − move), shorts at or below price × (1 + move)); a bucket that the
    moved price falls inside counts whole."""
    if side == "long":
        edge = price * (1.0 - move)
        return sum(lvl.value_usd for lvl in clusters.levels
                   if lvl.side == "long" and lvl.price_high > edge)
    edge = price * (1.0 + move)
    return sum(lvl.value_usd for lvl in clusters.levels
               if lvl.side == "short" and lvl.price_low <= edge)
