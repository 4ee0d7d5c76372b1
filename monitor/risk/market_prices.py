"""Market prices (LendingPosition.market_price: a market's own oracle quote of its collateral in
its debt asset) follow the USD prices of those two assets when a projection moves prices, as an
oracle quoting their ratio does; without that a shocked book would still be valued at the
market's pre-shock quote."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from monitor.risk.positions import LendingPosition, Position


def follow_market_prices(positions: Iterable[Position], start: Mapping[str, float],
                         moved: Mapping[str, float]) -> dict[str, float]:
    """`moved` with each position's market price scaled from its `start` value by its
    collateral's USD move over its debt asset's (quotes whose legs lack a price stay put)."""
    out = dict(moved)
    for position in positions:
        if not isinstance(position, LendingPosition) or position.market_price is None \
                or len(position.collateral) != 1 or len(position.debt) != 1:
            continue
        key = position.market_price
        base, quote = position.collateral[0].asset, position.debt[0].asset
        if key in start and all(a in start and a in moved for a in (base, quote)):
            out[key] = start[key] * (moved[base] / start[base]) / (moved[quote] / start[quote])
    return out
