"""GET /positions/{position_id}/: one position's health factor, values and liquidation prices
at the current prices, answered by the worker owning the id (routed there)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View

from monitor.limits import ID_RE
from monitor.risk import (
    MissingPrice,
    Position,
    health_factor,
    liquidation_prices,
    position_values,
)
from monitor.stream.context import Context
from monitor.stream.web.http import LABELS, answer, error, finite
from monitor.stream.web.routing import routed

if TYPE_CHECKING:
    from monitor.stream.positions.feature import Positions

def describe_position(position: Position, prices: Mapping[str, float]) -> dict[str, Any]:
    """The answer's body: health factor, values and liquidation prices at the current prices
    (numbers null, and `missing_prices` listed, while an asset has no price yet)."""
    needed = position.assets()
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


def register_views(ctx: Context, positions: Positions) -> None:
    """Add GET /positions/{position_id}/."""

    @ctx.app.page("/positions/{position_id}/")
    async def position(view: View, request: Request, position_id: str) -> Response:
        """One position with its health factor and liquidation prices."""
        if not ID_RE.match(position_id):
            return error(view, 400, "position_id: 1-256 printable ASCII characters expected")

        async def local() -> Response:
            found = positions.find(position_id)
            if found is None:
                return error(view, 404, f"unknown or closed position {position_id!r}")
            return answer(view, describe_position(found, positions.prices.values))

        return await routed(ctx, view, request, positions.table, position_id, local)
