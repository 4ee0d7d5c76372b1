"""GET /cascades/{asset}/ (the latest projection, routed to the asset's owner) and GET /clusters/
(every asset's summary and triggers, from the global summaries on any worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faust.web import Request, Response, View

from monitor.limits import ASSET_RE
from monitor.risk import CASCADE_SIDES
from monitor.stream.context import Context
from monitor.stream.web.http import LABELS, answer, error
from monitor.stream.web.routing import routed

if TYPE_CHECKING:
    from monitor.stream.cascades.feature import Cascades


def register_views(ctx: Context, cascades: Cascades) -> None:
    """Add GET /cascades/{asset}/ and GET /clusters/."""

    @ctx.app.page("/clusters/")
    async def index(view: View, request: Request) -> Response:
        """Every asset with its cluster summary and cascade triggers."""
        assets = [entry for _, entry in sorted(cascades.summaries.items())]
        return answer(view, {"assets": assets, "count": len(assets), "labels": LABELS})

    @ctx.app.page("/cascades/{asset}/")
    async def projection(view: View, request: Request, asset: str) -> Response:
        """The latest cascade projection of an asset, both sides."""
        if not ASSET_RE.match(asset):
            return error(view, 400, "asset: 1-128 characters of [A-Za-z0-9._:-] expected")

        async def local() -> Response:
            found = cascades.projections.get(asset)
            if found is None:
                return error(view, 404, f"no cascade projection for asset {asset!r}")
            joint = cascades.contagion.get(asset, {})
            contagion = {side: joint.get(side) for side in CASCADE_SIDES}
            return answer(view, {**found, "contagion": contagion, "labels": LABELS})

        return await routed(ctx, view, request, cascades.clusters.table, asset, local)
