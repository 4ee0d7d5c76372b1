"""GET /clusters/{asset}/: an asset's liquidation levels over every positions partition,
answered by the worker owning the asset's partials (routed there)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faust.web import Request, Response, View

from monitor.limits import ASSET_RE
from monitor.risk import SIDES
from monitor.stream.clusters.board import liquidatable_by_move
from monitor.stream.context import Context
from monitor.stream.web.http import LABELS, answer, error
from monitor.stream.web.routing import routed

if TYPE_CHECKING:
    from monitor.stream.clusters.feature import Clusters

def register_views(ctx: Context, clusters: Clusters) -> None:
    """Add GET /clusters/{asset}/."""
    rendered: dict[tuple[str, str | None], tuple[tuple[int, float | None], bytes]] = {}

    @ctx.app.page("/clusters/{asset}/")
    async def levels(view: View, request: Request, asset: str) -> Response:
        """An asset's liquidation levels over every partition (?side=long|short filters)."""
        if not ASSET_RE.match(asset):
            return error(view, 400, "asset: 1-128 characters of [A-Za-z0-9._:-] expected")
        side = request.query.get("side")
        if side is not None and side not in SIDES:
            return error(view, 400, "side: long or short expected")

        async def local() -> Response:
            merged, entry = clusters.board.merged(asset), clusters.board.entry(asset)
            if merged is None or entry is None:
                return error(view, 404, f"no clusters for asset {asset!r}")
            price = clusters.prices.values.get(asset)
            made = rendered.get((asset, side))
            if made is not None and made[0] == (entry.revision, price):
                return view.bytes(made[1], content_type="application/json")
            within = liquidatable_by_move(merged, price) if price is not None else None
            response = answer(view, {
                "asset": asset, "price": price, "updated_at": entry.updated_at(),
                "grid_step": ctx.settings.grid_step,
                "price_versions": {a: list(v) for a, v in entry.price_versions().items()},
                # orjson writes a ClusterLevel dataclass as ClusterLevel.to_dict() would, in C
                "levels": [lvl for lvl in merged.levels if side in (None, lvl.side)],
                "liquidatable_within_usd": within, "labels": LABELS})
            rendered[asset, side] = (entry.revision, price), response.body
            return response

        return await routed(ctx, view, request, clusters.table, asset, local)
