"""Open planned positions on the devnet quickly: batched transactions from impersonated accounts,
many per block.

A liquidity provider mints, supplies for itself (borrowable liquidity) and supplies collateral on
behalf of each account; the accounts (impersonated, no keys) enter eMode and borrow. Positions
are opened just above HF 1, which Aave allows only up to the LTV, so LTVs are raised to the
liquidation thresholds while seeding and put back afterwards (as a price drop would leave them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

from monitor.devnet.aave_deploy import (
    ETH_EMODE,
    RESERVES,
    Deployment,
    EModeParams,
    ReserveParams,
)
from monitor.devnet.artifacts import Artifact, aave
from monitor.devnet.node_rpc import NodeRpc
from monitor.devnet.position_plans import PositionPlan
from monitor.devnet.tx_batches import Batches, SeedStats, Tx

log = logging.getLogger(__name__)

ACCOUNTS_PER_BLOCK: Final = 25
GAS: Final = {"mint": 120_000, "approve": 80_000, "supply": 400_000, "borrow": 600_000,
              "setUserEMode": 200_000, "configure": 200_000}
ACCOUNT_GAS_WEI: Final = 10**18  # ETH each impersonated account gets for gas
LIQUIDITY_HEADROOM: Final = 2.0  # LP supply per debt asset, as a multiple of what is borrowed
MAX_UINT: Final = 2**256 - 1


class Seeder:
    """Turns position plans into mined transactions, several accounts per block."""

    def __init__(self, rpc: NodeRpc, deployment: Deployment, provider: str,
                 reserves: tuple[ReserveParams, ...] = RESERVES,
                 emode: EModeParams | None = ETH_EMODE) -> None:
        self.rpc = rpc
        self.dep = deployment
        self.provider = provider.lower()
        self.reserves = reserves
        self.emode = emode
        self.stats = SeedStats()
        self.pool = aave("Pool")
        self.token = aave("MintableERC20")
        self.configurator = aave("PoolConfigurator")

    def run(self, plans: Sequence[PositionPlan]) -> SeedStats:
        """Open every planned position; SeedError on the first failed transaction."""
        start = time.perf_counter()
        with Batches(self.rpc, self.stats) as batches:
            batches.step(self._fund(plans) + self._ltv_txs(raised=True))
            for first in range(0, len(plans), ACCOUNTS_PER_BLOCK):
                chunk = plans[first:first + ACCOUNTS_PER_BLOCK]
                self.rpc.batch([("anvil_setBalance", [p.account, hex(ACCOUNT_GAS_WEI)])
                                for p in chunk])
                batches.step([tx for p in chunk for tx in self._supplies(p)])
                batches.step([tx for p in chunk for tx in self._borrows(p)])
                self.stats.accounts += len(chunk)
                log.debug("seeded %d/%d accounts", self.stats.accounts, len(plans))
            batches.step(self._ltv_txs(raised=False))
        self.stats.seconds = time.perf_counter() - start
        return self.stats

    @staticmethod
    def _call(sender: str, to: str, artifact: Artifact, fn: str, *args: Any, what: str,
              gas: str) -> Tx:
        """A Tx calling `fn` of `artifact` on `to`, with the gas limit of its kind."""
        return Tx(sender, to, artifact.call_data(fn, *args), GAS[gas], what)

    def _fund(self, plans: Sequence[PositionPlan]) -> list[Tx]:
        """The provider mints every token the plans need, approves the pool, supplies liquidity."""
        txs = []
        for r in self.reserves:
            asset = self.dep.assets[r.symbol].address
            lent = int(sum(p.debt.get(r.symbol, 0) for p in plans) * LIQUIDITY_HEADROOM)
            liquidity = max(lent, 10 ** r.decimals)
            pledged = sum(p.collateral.get(r.symbol, 0) for p in plans)
            p = self.provider
            txs += [
                self._call(p, asset, self.token, "mint", p, liquidity + pledged,
                           what=f"mint {r.symbol}", gas="mint"),
                self._call(p, asset, self.token, "approve", self.dep.pool, MAX_UINT,
                           what=f"approve {r.symbol}", gas="approve"),
                self._call(p, self.dep.pool, self.pool, "supply", asset, liquidity, p, 0,
                           what=f"liquidity {r.symbol}", gas="supply"),
            ]
        return txs

    def _ltv_txs(self, raised: bool) -> list[Tx]:
        """Set every reserve's (and the eMode category's) LTV to its threshold, or back."""
        conf, d = self.dep.pool_configurator, self.dep.deployer
        txs = [self._call(d, conf, self.configurator, "configureReserveAsCollateral",
                          self.dep.assets[r.symbol].address,
                          r.liquidation_threshold if raised else r.ltv, r.liquidation_threshold,
                          r.liquidation_bonus, what=f"LTV {r.symbol}", gas="configure")
               for r in self.reserves]
        if self.emode is not None:
            e = self.emode
            txs.append(self._call(d, conf, self.configurator, "setEModeCategory", e.category,
                                  e.liquidation_threshold if raised else e.ltv,
                                  e.liquidation_threshold, e.liquidation_bonus, "0x" + "00" * 20,
                                  e.label, what="LTV eMode", gas="configure"))
        return txs

    def _supplies(self, plan: PositionPlan) -> Iterable[Tx]:
        """The provider supplies the plan's collateral on the account's behalf; eMode entry."""
        for symbol, units in plan.collateral.items():
            yield self._call(self.provider, self.dep.pool, self.pool, "supply",
                             self.dep.assets[symbol].address, units, plan.account, 0,
                             what=f"supply {symbol} for {plan.account}", gas="supply")
        if plan.emode:
            yield self._call(plan.account, self.dep.pool, self.pool, "setUserEMode", plan.emode,
                             what=f"eMode {plan.account}", gas="setUserEMode")

    def _borrows(self, plan: PositionPlan) -> Iterable[Tx]:
        """The account borrows its planned debts at the variable rate."""
        for symbol, units in plan.debt.items():
            yield self._call(plan.account, self.dep.pool, self.pool, "borrow",
                             self.dep.assets[symbol].address, units, 2, 0, plan.account,
                             what=f"borrow {symbol} by {plan.account}", gas="borrow")
