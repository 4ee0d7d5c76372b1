"""The cascade projection of one asset as served and published: both sides' triggers from the
merged clusters and the depth model, and the asset's summary (pure: no Faust)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

from monitor.config import CascadeConfig
from monitor.risk import (
    CASCADE_SIDES,
    ClusterMap,
    DepthModel,
    find_cascade_trigger,
)
from monitor.risk.sides import CascadeSide
from monitor.stream.clusters.board import liquidatable_by_move
from monitor.stream.depth.observed import DepthProvenance
from monitor.wire import Version

NO_TRIGGER: Final = {"trigger_price": None, "amplification": None, "terminal_price": None,
                     "liquidated_usd": None, "induced_move": None, "bad_debt_usd": None,
                     "distance": None}
SUMMARY_FIELDS: Final = ("asset", "price", "updated_at", "computed_at", "down", "up")


def trigger(clusters: ClusterMap, price: float, depth: DepthModel | None, side: CascadeSide,
            cfg: CascadeConfig) -> dict[str, Any]:
    """The cascade trigger of one side as JSON (nulls where nothing triggers)."""
    if depth is None:
        return dict(NO_TRIGGER)
    found = find_cascade_trigger(clusters, price, depth, side, a_min=cfg.a_min,
                                 levels=cfg.levels, max_move=cfg.max_move,
                                 min_induced_move=cfg.min_induced_move,
                                 min_liquidated_usd=cfg.min_liquidated_usd)
    if found is None:
        return dict(NO_TRIGGER)
    return {"trigger_price": found.trigger_price, "amplification": found.amplification,
            "terminal_price": found.terminal_price, "liquidated_usd": found.liquidated_usd,
            "induced_move": found.induced_move, "bad_debt_usd": found.bad_debt_usd,
            "distance": abs(found.trigger_price - price) / price,
            "significant": {"induced_move": found.induced_move >= cfg.min_induced_move,
                            "liquidated_usd": found.liquidated_usd >= cfg.min_liquidated_usd}}


def criteria(cfg: CascadeConfig) -> dict[str, float]:
    """What makes a trigger (served beside it, so a reader sees why one counts)."""
    return {"a_min": cfg.a_min, "min_induced_move": cfg.min_induced_move,
            "min_liquidated_usd": cfg.min_liquidated_usd}


def summary(clusters: ClusterMap, price: float) -> dict[str, Any]:
    """Totals of an asset's clusters: value per side and value liquidatable within small moves."""
    value = {"long": float(clusters.value_usd[clusters.side > 0].sum()),
             "short": float(clusters.value_usd[clusters.side < 0].sum())}
    return {"levels": len(clusters), "positions": int(clusters.positions.sum()),
            "value_usd": value,
            "liquidatable_within_usd": liquidatable_by_move(clusters, price)}


def project(asset: str, clusters: ClusterMap, price: float, depth: DepthModel | None,
            provenance: DepthProvenance, cfg: CascadeConfig, updated_at: float | None,
            price_versions: Mapping[str, Version]) -> dict[str, Any]:
    """The projection of one asset (the body of GET /cascades/{asset}/ and of `cascades`)."""
    return {"asset": asset, "price": price, "updated_at": updated_at,
            "computed_at": time.time(), "modelled": depth is not None,
            "depth": provenance.to_dict(),
            "price_versions": {a: list(v) for a, v in price_versions.items()},
            "trigger_criteria": criteria(cfg),
            **{side: trigger(clusters, price, depth, side, cfg) for side in CASCADE_SIDES},
            "summary": summary(clusters, price)}


def index_entry(projection: Mapping[str, Any]) -> dict[str, Any]:
    """What GET /clusters/ lists for an asset: its summary and both triggers."""
    return {**{name: projection[name] for name in SUMMARY_FIELDS}, **projection["summary"]}
