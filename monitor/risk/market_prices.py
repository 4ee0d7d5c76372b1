"""Market prices (LendingPosition.market_price: a market's own oracle quote of its collateral in
its debt asset) follow the USD prices of those two assets when a projection moves prices, as an
oracle quoting their ratio does; without that a shocked book would still be valued at the
market's pre-shock quote."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from monitor.risk.positions import LendingPosition, Position

MarketPairs = dict[str, tuple[str, str]]  # market price key -> (collateral asset, debt asset)


def market_pairs(positions: Iterable[Position]) -> MarketPairs:
    """The market price key of every position quoted at one, with the two assets it quotes."""
    pairs: MarketPairs = {}
    for position in positions:
        if isinstance(position, LendingPosition) and position.market_price is not None \
                and len(position.collateral) == 1 and len(position.debt) == 1:
            pairs[position.market_price] = (position.collateral[0].asset,
                                            position.debt[0].asset)
    return pairs


def follow_pairs(pairs: Mapping[str, tuple[str, str]], start: Mapping[str, float],
                 moved: Mapping[str, float]) -> dict[str, float]:
    """`moved` with each market price scaled from its `start` value by its collateral's USD
    move over its debt asset's (quotes whose legs lack a price stay put)."""
    out = dict(moved)
    for key, (base, quote) in pairs.items():
        if key in start and all(a in start and a in moved for a in (base, quote)):
            out[key] = start[key] * (moved[base] / start[base]) / (moved[quote] / start[quote])
    return out

