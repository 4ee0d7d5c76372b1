"""A liquidation keeper for the devnet: after a price step it liquidates every account whose
health factor is below 1, as mainnet bots do, so LiquidationCall events reach the ingester and
underwater positions shrink instead of sitting in "liquidatable now" forever. Given the devnet's
pools it sells the collateral it seizes into them and buys there the debt it repays, as bots do
(a flash swap: debt asset in, collateral out, sold for it): those trades are the cascade."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from monitor.devnet.artifacts import aave
from monitor.devnet.devnet import AccountData, Devnet
from monitor.devnet.node_rpc import TxFailed
from monitor.devnet.uniswap import UniswapPools
from monitor.sources.aave_v3.events import SPECS
from monitor.sources.evm.decoder import decode_log

log = logging.getLogger(__name__)

ONE: Final = 10**18  # health factor 1 in wad
CLOSE_FACTOR_HF_THRESHOLD: Final = 95 * 10**16  # Aave V3.0: above HF 0.95 at most half a debt
HALF_CLOSE_FACTOR_BPS: Final = 5_000
FULL_CLOSE_FACTOR_BPS: Final = 10_000
MAX_ROUNDS: Final = 8  # liquidations per account and sweep (each takes one collateral/debt pair)


@dataclass
class Sweep:
    """What one sweep did: liquidations, USD repaid and collateral seized (at the oracle price
    it was seized at), reverts, and positions with bad debt (left with it on Aave; booked by
    the contract on Morpho, which socialises it)."""

    underwater: int = 0
    liquidations: int = 0
    repaid_usd: float = 0.0
    seized_usd: float = 0.0
    bad_debt_usd: float = 0.0  # booked by the protocol (Morpho), at the oracle's prices
    reverts: int = 0
    bad_debt: int = 0
    protocol: str = "aave-v3"

    def line(self) -> str:
        """A one-line summary for progress output."""
        text = (f"liquidator ({self.protocol}): {self.liquidations} liquidations of "
                f"{self.underwater} underwater positions, ${self.repaid_usd:,.0f} repaid")
        if self.seized_usd:
            text += f", ${self.seized_usd:,.0f} collateral seized"
        if self.reverts:
            text += f", {self.reverts} reverted"
        if self.bad_debt:
            text += f", {self.bad_debt} with bad debt"
        return text


@dataclass(frozen=True)
class Leg:
    """One reserve of an account: collateral it may seize and debt it may repay, USD-valued."""

    asset: str
    collateral_usd: float
    debt: int
    debt_usd: float


class Liquidator:
    """Liquidates the devnet's underwater accounts through Devnet.liquidate, largest pair first;
    a sweep ends early once `stop` is set, so shutting down never waits on a long sweep."""

    def __init__(self, devnet: Devnet, stop: threading.Event | None = None,
                 pools: UniswapPools | None = None) -> None:
        self.devnet = devnet
        self.stop = stop or threading.Event()
        self.pools = pools

    def sweep(self, data: Mapping[str, AccountData] | None = None) -> Sweep:
        """Liquidate until no account with collateral is below HF 1 (or MAX_ROUNDS per account);
        `data` is a fresh getUserAccountData of every account, read here when not given."""
        data = self.devnet.account_data() if data is None else data
        underwater = {a: d for a, d in data.items() if is_underwater(d)}
        done = Sweep(underwater=len(underwater))
        first, failed = list(underwater), set[str]()
        for _ in range(MAX_ROUNDS):
            if not underwater or self.stop.is_set():
                break
            prices = self.devnet.prices()
            legs = self._legs(list(underwater), prices)
            pairs = {a: pair for a, pair in ((a, _pair(legs[a])) for a in underwater) if pair}
            for account, (collateral, debt) in pairs.items():
                if self.stop.is_set():
                    break
                self._liquidate(account, underwater[account], collateral, debt, prices, done,
                                failed)
            retry = [a for a in pairs if a not in failed]
            underwater = {a: d for a, d in self._account_data(retry).items() if is_underwater(d)}
        left = self._account_data([a for a in first if a not in failed]).values()
        done.bad_debt = sum(1 for d in left if is_underwater(d) and not d.total_collateral_base)
        return done

    def _liquidate(self, account: str, state: AccountData, collateral: Leg, debt: Leg,
                   prices: Mapping[str, float], done: Sweep, failed: set[str]) -> None:
        """One liquidationCall repaying what the close factor allows; a revert is counted."""
        factor = HALF_CLOSE_FACTOR_BPS if state.health_factor > CLOSE_FACTOR_HF_THRESHOLD \
            else FULL_CLOSE_FACTOR_BPS
        cover = debt.debt * factor // FULL_CLOSE_FACTOR_BPS
        try:
            receipt = self.devnet.liquidate(account, collateral.asset, debt.asset, cover)
        except TxFailed as exc:
            done.reverts += 1
            failed.add(account)
            log.warning("liquidationCall %s %s/%s reverted: %s", account, collateral.asset,
                        debt.asset, exc.reason)
            return
        done.liquidations += 1
        repaid, seized = self._amounts(receipt["transactionHash"].to_0x_hex())
        assets = self.devnet.deployment.assets
        done.repaid_usd += repaid / 10 ** assets[debt.asset].decimals * prices[debt.asset]
        done.seized_usd += seized / 10 ** assets[collateral.asset].decimals \
            * prices[collateral.asset]
        if self.pools is not None:
            self.pools.sell(self.devnet.liquidator, collateral.asset, seized)
            self.pools.buy(self.devnet.liquidator, debt.asset, repaid)

    def _amounts(self, tx_hash: str) -> tuple[int, int]:
        """(debt repaid, collateral received) of a mined liquidation, from its LiquidationCall
        event (the collateral excludes the protocol's fee share of the bonus)."""
        raw = self.devnet.rpc.call("eth_getTransactionReceipt", tx_hash)
        for entry in raw["logs"]:
            decoded = decode_log(entry, SPECS)
            if decoded is not None and decoded.event == "LiquidationCall":
                return (int(decoded.args["debtToCover"]),
                        int(decoded.args["liquidatedCollateralAmount"]))
        return 0, 0

    def _account_data(self, accounts: list[str]) -> dict[str, AccountData]:
        """getUserAccountData of some accounts, in one batch."""
        pool = aave("Pool")
        address = self.devnet.deployment.pool
        outs = self.devnet.rpc.batch([("eth_call", [{"to": address, "data": pool.call_data(
            "getUserAccountData", a)}, "latest"]) for a in accounts])
        return {a: AccountData(*pool.decode_output("getUserAccountData", out, 1))
                for a, out in zip(accounts, outs, strict=True)}

    def _legs(self, accounts: list[str], prices: Mapping[str, float]) -> dict[str, list[Leg]]:
        """Every account's reserves (getUserReserveData), in one batch."""
        provider = aave("AaveProtocolDataProvider")
        assets = self.devnet.deployment.assets
        calls = [(account, name) for account in accounts for name in assets]
        outs = self.devnet.rpc.batch([("eth_call", [{
            "to": self.devnet.deployment.data_provider,
            "data": provider.call_data("getUserReserveData", assets[name].address, account)},
            "latest"]) for account, name in calls])
        legs: dict[str, list[Leg]] = {a: [] for a in accounts}
        for (account, name), out in zip(calls, outs, strict=True):
            (a_balance, stable, variable, *_rest, as_collateral) = provider.decode_output(
                "getUserReserveData", out, 2)
            unit = 10 ** assets[name].decimals
            collateral = a_balance if as_collateral else 0
            debt = stable + variable
            if collateral or debt:
                legs[account].append(Leg(name, collateral / unit * prices[name], debt,
                                         debt / unit * prices[name]))
        return legs


def is_underwater(data: AccountData) -> bool:
    """Liquidatable: debt and a health factor below 1."""
    return bool(data.total_debt_base) and data.health_factor < ONE


def _pair(legs: list[Leg]) -> tuple[Leg, Leg] | None:
    """The largest collateral and the largest debt by USD value; None without both."""
    collateral = max((leg for leg in legs if leg.collateral_usd > 0),
                     key=lambda leg: leg.collateral_usd, default=None)
    debt = max((leg for leg in legs if leg.debt), key=lambda leg: leg.debt_usd, default=None)
    return None if collateral is None or debt is None else (collateral, debt)
