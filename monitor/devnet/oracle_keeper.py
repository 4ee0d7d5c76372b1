"""The devnet's oracle keeper: after a block it sets each pooled asset's Chainlink-style
aggregator (and every Morpho oracle quoting it) to the asset's pool spot, so the prices the
lending protocols liquidate at follow the market that liquidations sell into."""

from __future__ import annotations

from monitor.devnet.aave_deploy import price_answer
from monitor.devnet.devnet import Devnet


class OracleKeeper:
    """Moves the oracles of the devnet's pooled assets to their pool's spot, in one block."""

    def __init__(self, devnet: Devnet) -> None:
        self.devnet = devnet

    def sync(self) -> dict[str, float]:
        """Set every oracle whose answer differs from its pool's spot (to 1e-8 USD); the
        prices set, empty when no pool moved since the last sync."""
        spots = self.devnet.pools.spots()
        held = self.devnet.answers()
        moved = {asset: spot for asset, spot in spots.items()
                 if price_answer(spot) != held[asset]}
        if moved:
            self.devnet.set_prices(moved)
        return moved
