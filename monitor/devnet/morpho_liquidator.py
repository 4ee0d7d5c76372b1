"""The devnet's keeper on Morpho Blue: after a price step it liquidates in full (Morpho has no
close factor) every seeded position the contract calls unhealthy. It repays every share when
the collateral covers the debt times the incentive (LIF), and otherwise seizes all the
collateral, the contract then booking the rest of the debt as bad debt. Given the devnet's
pools it sells the collateral it seizes into them."""

from __future__ import annotations

import logging
import threading
from typing import Any, Final

from monitor.devnet.devnet import Devnet
from monitor.devnet.liquidator import Sweep
from monitor.devnet.node_rpc import TxFailed
from monitor.devnet.uniswap import UniswapPools
from monitor.risk.morpho_blue import (
    ORACLE_PRICE_SCALE,
    PROTOCOL,
    WAD,
    liquidation_incentive_factor,
    mul_div_down,
    mul_div_up,
    to_assets_down,
    to_shares_up,
)
from monitor.sources.evm.decoder import decode_log
from monitor.sources.morpho_blue.events import SPECS

log = logging.getLogger(__name__)

MARGIN: Final = 1e-4  # distance kept from the all-collateral edge: interest accrues meanwhile


class MorphoLiquidator:
    """Liquidates the devnet's unhealthy Morpho positions; a sweep ends early once `stop` is
    set, so shutting down never waits on a long sweep."""

    def __init__(self, devnet: Devnet, stop: threading.Event | None = None,
                 pools: UniswapPools | None = None) -> None:
        self.devnet = devnet
        self.stop = stop or threading.Event()
        self.pools = pools

    def underwater(self) -> list[tuple[str, str]]:
        """The seeded (market, account) positions the contract would let a liquidator take."""
        return [key for key, health in self.devnet.morpho.healths().items()
                if not health.healthy]

    def sweep(self) -> Sweep:
        """Liquidate every unhealthy position once, in full."""
        underwater = self.underwater()
        done = Sweep(underwater=len(underwater), protocol=PROTOCOL)
        prices = self.devnet.prices()
        for name, account in underwater:
            if self.stop.is_set():
                break
            seized, shares = self._amounts(name, account)
            try:
                receipt = self.devnet.morpho.liquidate(name, account, seized, shares)
            except TxFailed as exc:
                done.reverts += 1
                log.warning("liquidate %s in %s reverted: %s", account, name, exc.reason)
                continue
            for entry in receipt["logs"]:
                decoded = decode_log(entry, SPECS)
                if decoded is not None and decoded.event == "Liquidate":
                    self._count(name, decoded.args, prices, done)
        return done

    def _count(self, name: str, args: dict[str, Any], prices: dict[str, float],
               done: Sweep) -> None:
        """Book one Liquidate event; sell the seized collateral into its pool."""
        spec, assets = self.devnet.morpho.market(name).spec, self.devnet.deployment.assets
        done.liquidations += 1
        done.repaid_usd += args["repaidAssets"] * prices[spec.loan] \
            / 10 ** assets[spec.loan].decimals
        done.seized_usd += args["seizedAssets"] * prices[spec.collateral] \
            / 10 ** assets[spec.collateral].decimals
        done.bad_debt += args["badDebtAssets"] > 0
        done.bad_debt_usd += args["badDebtAssets"] * prices[spec.loan] \
            / 10 ** assets[spec.loan].decimals
        if self.pools is not None:
            self.pools.sell(self.devnet.liquidator, spec.collateral, int(args["seizedAssets"]))

    def _amounts(self, name: str, account: str) -> tuple[int, int]:
        """(seizedAssets, repaidShares) of a full liquidation: every share when that seizes no
        more than the collateral (with MARGIN), else all the collateral when that repays fewer
        shares than owed (bad debt), else all but MARGIN of the collateral."""
        morpho = self.devnet.morpho
        market = morpho.market(name)
        state = morpho.accrued(name)
        position = morpho.position(name, account)
        price = morpho.price(name)
        lif = liquidation_incentive_factor(market.params.lltv)
        owed = to_assets_down(position.borrow_shares, state.total_borrow_assets,
                              state.total_borrow_shares)
        seized_if_repaid = mul_div_down(mul_div_down(owed, lif, WAD), ORACLE_PRICE_SCALE, price)
        if seized_if_repaid <= position.collateral * (1 - MARGIN):
            return 0, position.borrow_shares
        repaid_if_seized = to_shares_up(
            mul_div_up(mul_div_up(position.collateral, price, ORACLE_PRICE_SCALE), WAD, lif),
            state.total_borrow_assets, state.total_borrow_shares)
        if repaid_if_seized < position.borrow_shares:
            return position.collateral, 0
        return int(position.collateral * (1 - MARGIN)), 0
