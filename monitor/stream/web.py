"""The web view on Faust's web server: clusters, cascades, positions, health and metrics.

Per-key answers are routed with table_route to the worker owning the key's partition: the
partition of a key is murmur2 of its raw UTF-8 bytes, exactly what a plain aiokafka producer
computes for the input topics, so routing and ingestion agree. JSON is written with orjson
(NaN and infinities become null); errors answer {"error": ...} with 400 or 404.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any, Final

import orjson
from faust.web import Request, Response, View

from monitor.risk import (
    MissingPrice,
    Position,
    from_snapshot,
    health_factor,
    liquidatable_within,
    liquidation_prices,
    position_values,
)
from monitor.stream.app import Pipeline
from monitor.stream.books import assets_of
from monitor.stream.metrics import (
    CLUSTER_SIDES,
    MOVES,
    AssetRisk,
    LiveCollector,
    PriceInfo,
)

ASSET_RE: Final = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
POSITION_RE: Final = re.compile(r"^[\x21-\x7e]{1,256}$")
LABELS: Final = {"price": "observed (oracle)", "positions": "observed (snapshots)",
                 "levels": "modelled (liquidation prices from snapshots at current prices)",
                 "cascade": "modelled (depth model and close factor 1)"}


def answer(view: View, body: Any, status: int = 200) -> Response:
    """A JSON response."""
    return view.bytes(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                      content_type="application/json", status=status)


def error(view: View, status: int, message: str) -> Response:
    """A JSON error response."""
    return answer(view, {"error": message, "status": status}, status)


def finite(value: float) -> float | None:
    """JSON-safe number: None for infinities and NaN."""
    return value if math.isfinite(value) else None


def describe_position(position: Position, prices: dict[str, float]) -> dict[str, Any]:
    """GET /positions/{id}/ body: health factor, values and liquidation prices at the current
    prices (numbers null, and `missing_prices` listed, while an asset has no price yet)."""
    needed = assets_of(position)
    missing = sorted(needed - set(prices))
    body: dict[str, Any] = {
        "position_id": position.position_id, "protocol": position.protocol,
        "account": position.account, "kind": position.kind,
        "version": list(position.version), "timestamp": position.timestamp,
        "prices": {a: prices[a] for a in sorted(needed & set(prices))},
        "missing_prices": missing, "labels": LABELS,
        "health_factor": None, "liquidatable_now": None, "collateral_usd": None,
        "debt_usd": None, "liquidation_prices": {},
    }
    if missing:
        return body
    try:
        hf = health_factor(position, prices)
        collateral_usd, debt_usd = position_values(position, prices)
        levels = liquidation_prices(position, prices)
    except MissingPrice as exc:
        body["missing_prices"] = [str(exc)]
        return body
    body.update(health_factor=finite(hf), liquidatable_now=hf < 1.0,
                collateral_usd=collateral_usd, debt_usd=debt_usd,
                liquidation_prices={a: {"price": lvl.price, "side": lvl.side}
                                    for a, lvl in sorted(levels.items())})
    return body


def _risks(pipe: Pipeline) -> Iterator[AssetRisk]:
    """Per-asset gauges of the projections this worker computed for the assets it owns."""
    for asset, projection in list(pipe.projections.items()):
        within = projection["summary"]["liquidatable_within_usd"]
        sides = {s: projection[s] for s in ("down", "up")
                 if projection[s]["trigger_price"] is not None}
        yield AssetRisk(
            asset=asset,
            liquidatable_usd={(side, move): float(within[side][f"{move:g}"])
                              for side in CLUSTER_SIDES for move in MOVES},
            trigger_distance={s: float(v["distance"]) for s, v in sides.items()},
            amplification={s: float(v["amplification"]) for s, v in sides.items()})


def _prices(pipe: Pipeline) -> Iterator[PriceInfo]:
    """Latest price per asset from the global table."""
    for asset, value in list(pipe.price_table.items()):
        yield PriceInfo(asset, float(value["price"]), float(value["timestamp"]))


def register(pipe: Pipeline) -> None:
    """Add the views and /metrics."""
    app = pipe.app
    pipe.metrics.attach(app, LiveCollector(lambda: len(pipe.books), lambda: _risks(pipe),
                                           lambda: _prices(pipe)))

    @app.page("/health/")
    async def health(view: View, request: Request) -> Response:
        """Readiness: 200 only once partitions are assigned and tables recovered."""
        ready = pipe.ready()
        return answer(view, {
            "status": "ok" if ready else "starting", "ready": ready,
            "worker": app.conf.canonical_url.human_repr(),
            "partitions": sorted(pipe.books.partitions), "positions": len(pipe.books),
        }, 200 if ready else 503)

    @app.page("/positions/{position_id}/")
    @app.table_route(table=pipe.position_table, match_info="position_id")
    async def position(view: View, request: Request, position_id: str) -> Response:
        """One position with its health factor and liquidation prices."""
        if not POSITION_RE.match(position_id):
            return error(view, 400, "position_id: 1-256 printable ASCII characters expected")
        stored = pipe.position_table.get(position_id)
        if stored is None or stored.get("snapshot") is None:
            return error(view, 404, f"unknown or closed position {position_id!r}")
        found = pipe.books.find(position_id) or from_snapshot(stored["snapshot"])
        return answer(view, describe_position(found, pipe.current_prices()))

    @app.page("/clusters/")
    async def clusters_index(view: View, request: Request) -> Response:
        """Every asset with its cluster summary and cascade triggers (global summary table)."""
        assets = [{"asset": asset, "price": p["price"], "updated_at": p["updated_at"],
                   "computed_at": p["computed_at"], **p["summary"],
                   "down": p["down"], "up": p["up"]}
                  for asset, p in sorted(pipe.summary_table.items())]
        return answer(view, {"assets": assets, "count": len(assets), "labels": LABELS})

    @app.page("/clusters/{asset}/")
    @app.table_route(table=pipe.cascade_table, match_info="asset")
    async def clusters(view: View, request: Request, asset: str) -> Response:
        """An asset's liquidation levels over every partition (?side=long|short filters)."""
        if not ASSET_RE.match(asset):
            return error(view, 400, "asset: 1-64 characters of [A-Za-z0-9._:-] expected")
        side = request.query.get("side")
        if side is not None and side not in CLUSTER_SIDES:
            return error(view, 400, "side: long or short expected")
        merged = pipe.board.merged(asset)
        if merged is None:
            return error(view, 404, f"no clusters for asset {asset!r}")
        price = pipe.current_prices().get(asset)
        levels = [lvl.to_dict() for lvl in merged.levels if side in (None, lvl.side)]
        within = ({s: {f"{m:g}": liquidatable_within(merged, price, m, s) for m in MOVES}
                   for s in CLUSTER_SIDES} if price is not None else None)
        return answer(view, {"asset": asset, "price": price,
                             "updated_at": pipe.board.updated_at(asset),
                             "grid_step": pipe.settings.grid_step, "levels": levels,
                             "liquidatable_within_usd": within, "labels": LABELS})

    @app.page("/cascades/{asset}/")
    @app.table_route(table=pipe.cascade_table, match_info="asset")
    async def cascades(view: View, request: Request, asset: str) -> Response:
        """The latest cascade projection of an asset, both sides."""
        if not ASSET_RE.match(asset):
            return error(view, 400, "asset: 1-64 characters of [A-Za-z0-9._:-] expected")
        projection = pipe.cascade_table.get(asset)
        if projection is None:
            return error(view, 404, f"no cascade projection for asset {asset!r}")
        return answer(view, {**projection, "labels": LABELS})
