"""Open planned Morpho Blue positions on the devnet in a few blocks: the liquidity provider
supplies each market's loan token (borrowable liquidity) and each position's collateral on the
account's behalf; the accounts (impersonated, no keys) borrow."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

from monitor.devnet.aave_deploy import Deployment
from monitor.devnet.artifacts import aave
from monitor.devnet.morpho_deploy import MorphoDeployment, morpho_artifacts
from monitor.devnet.morpho_plans import MorphoPlan
from monitor.devnet.node_rpc import NodeRpc
from monitor.devnet.seeding import ACCOUNT_GAS_WEI, LIQUIDITY_HEADROOM, MAX_UINT
from monitor.devnet.tx_batches import Batches, SeedStats, Tx

POSITIONS_PER_BLOCK: Final = 25
GAS: Final = {"mint": 120_000, "approve": 80_000, "supply": 300_000,
              "supplyCollateral": 200_000, "borrow": 400_000}


class MorphoSeeder:
    """Turns Morpho position plans into mined transactions, several positions per block."""

    def __init__(self, rpc: NodeRpc, aave_deployment: Deployment, morpho: MorphoDeployment,
                 provider: str, stats: SeedStats | None = None) -> None:
        self.rpc = rpc
        self.aave = aave_deployment
        self.morpho = morpho
        self.provider = provider.lower()
        self.stats = stats or SeedStats()
        self.token = aave("MintableERC20")
        self.art = morpho_artifacts()["Morpho"]

    def run(self, plans: Sequence[MorphoPlan]) -> SeedStats:
        """Open every planned position; SeedError on the first failed transaction."""
        start = time.perf_counter()
        with Batches(self.rpc, self.stats) as batches:
            batches.step(self._fund(plans))
            for first in range(0, len(plans), POSITIONS_PER_BLOCK):
                chunk = plans[first:first + POSITIONS_PER_BLOCK]
                self.rpc.batch([("anvil_setBalance", [p.account, hex(ACCOUNT_GAS_WEI)])
                                for p in chunk])
                batches.step([self._collateral(p) for p in chunk])
                batches.step([self._borrow(p) for p in chunk])
        self.stats.seconds += time.perf_counter() - start
        return self.stats

    def _morpho(self, sender: str, fn: str, *args: Any, what: str, gas: str) -> Tx:
        """A Tx calling `fn` of Morpho, with the gas limit of its kind."""
        return Tx(sender, self.morpho.address, self.art.call_data(fn, *args), GAS[gas], what)

    def _fund(self, plans: Sequence[MorphoPlan]) -> list[Tx]:
        """The provider mints what the plans need, approves Morpho and supplies each market's
        loan token (LIQUIDITY_HEADROOM × what is borrowed there)."""
        minted: dict[str, int] = {}
        supplies: list[Tx] = []
        for name, market in self.morpho.markets.items():
            lent = int(sum(p.borrow for p in plans if p.market == name) * LIQUIDITY_HEADROOM)
            liquidity = max(lent, 10 ** self.aave.assets[market.spec.loan].decimals)
            loan, collateral = market.params.loan_token, market.params.collateral_token
            minted[loan] = minted.get(loan, 0) + liquidity
            minted[collateral] = minted.get(collateral, 0) + \
                sum(p.collateral for p in plans if p.market == name)
            supplies.append(self._morpho(self.provider, "supply", market.params.words(),
                                         liquidity, 0, self.provider, b"",
                                         what=f"supply {name}", gas="supply"))
        p = self.provider
        funding: Iterable[Tx] = (tx for token, units in minted.items() for tx in (
            Tx(p, token, self.token.call_data("mint", p, units), GAS["mint"], f"mint {token}"),
            Tx(p, token, self.token.call_data("approve", self.morpho.address, MAX_UINT),
               GAS["approve"], f"approve {token}")))
        return [*funding, *supplies]

    def _collateral(self, plan: MorphoPlan) -> Tx:
        """The provider supplies the plan's collateral on the account's behalf."""
        params = self.morpho.markets[plan.market].params
        return self._morpho(self.provider, "supplyCollateral", params.words(), plan.collateral,
                            plan.account, b"",
                            what=f"supplyCollateral {plan.market} for {plan.account}",
                            gas="supplyCollateral")

    def _borrow(self, plan: MorphoPlan) -> Tx:
        """The account borrows its planned assets to itself."""
        params = self.morpho.markets[plan.market].params
        return self._morpho(plan.account, "borrow", params.words(), plan.borrow, 0,
                            plan.account, plan.account,
                            what=f"borrow {plan.market} by {plan.account}", gas="borrow")
