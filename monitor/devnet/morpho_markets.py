"""The devnet's Morpho Blue as tests, the liquidator and the price driver use it: positions,
market states and oracle prices read at a block, health as the contract computes it (interest
accrued to the block), oracle moves that follow the aggregators, and liquidate()."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from monitor.devnet.aave_deploy import Deployment
from monitor.devnet.artifacts import aave
from monitor.devnet.morpho_deploy import (
    DeployedMarket,
    MorphoDeployment,
    market_oracle_price,
    morpho_artifacts,
)
from monitor.devnet.node_rpc import LiquidationFailed, NodeRpc, TxFailed
from monitor.devnet.tx_batches import Tx
from monitor.risk.morpho_blue import max_borrow
from monitor.sources.morpho_blue.positions import MarketState

MAX_UINT: Final = 2**256 - 1
SET_PRICE_GAS: Final = 60_000
LIQUIDATION_MINT_MARGIN: Final = 1.05  # the liquidator holds a little more than the debt
Block = int | str


class MorphoPosition(NamedTuple):
    """Morpho.position(id, account)."""

    supply_shares: int
    borrow_shares: int
    collateral: int


class Health(NamedTuple):
    """What _isHealthy compares: what the collateral may borrow and the borrowed assets."""

    max_borrow: int
    borrowed: int

    @property
    def healthy(self) -> bool:
        """maxBorrow ≥ borrowed."""
        return self.max_borrow >= self.borrowed


class MorphoMarkets:
    """The deployed Morpho Blue, its markets by name and the positions seeded in them."""

    def __init__(self, rpc: NodeRpc, deployment: MorphoDeployment, aave_deployment: Deployment,
                 liquidator: str) -> None:
        self.rpc = rpc
        self.deployment = deployment
        self.aave = aave_deployment
        self.liquidator = liquidator
        self.positions: list[tuple[str, str]] = []  # (market name, account) seeded
        self.art = morpho_artifacts()

    def market(self, name: str) -> DeployedMarket:
        """A market by name ('WETH/USDC')."""
        return self.deployment.markets[name]

    def _call(self, to: str, contract: str, fn: str, *args: Any, block: Block = "latest"
              ) -> tuple[Any, ...]:
        """A view call's decoded answer at `block`."""
        art = self.art[contract]
        return art.decode_output(fn, self.rpc.eth_call(to, art.call_data(fn, *args), block),
                                 len(args))

    def position(self, name: str, account: str, block: Block = "latest") -> MorphoPosition:
        """The account's shares and collateral in a market."""
        return MorphoPosition(*self._call(self.deployment.address, "Morpho", "position",
                                          bytes.fromhex(self.market(name).id[2:]), account,
                                          block=block))

    def state(self, name: str, block: Block = "latest") -> MarketState:
        """The market's totals as stored (interest not accrued)."""
        return MarketState(*self._call(self.deployment.address, "Morpho", "market",
                                       bytes.fromhex(self.market(name).id[2:]), block=block))

    def price(self, name: str, block: Block = "latest") -> int:
        """The market oracle's price() (collateral in loan base units, scaled 1e36)."""
        return int(self._call(self.market(name).params.oracle, "OracleMock", "price",
                              block=block)[0])

    def accrued(self, name: str, block: Block = "latest", until: int | None = None
                ) -> MarketState:
        """The market's totals at `block` with interest accrued to `until` (default: the
        block's timestamp) at the rate its IRM answers there, as _accrueInterest accrues it."""
        params = self.market(name).params
        state = self.state(name, block)
        header = self.rpc.call("eth_getBlockByNumber",
                               hex(block) if isinstance(block, int) else block, False)
        timestamp = int(header["timestamp"], 16) if until is None else until
        rate = 0
        if state.accrues(params.irm, timestamp):
            rate = int(self._call(params.irm, "IrmMock", "borrowRateView", params.words(),
                                  state.words(), block=block)[0])
        return state.accrued(rate, timestamp)

    def borrowed(self, name: str, account: str, block: Block = "latest") -> int:
        """The account's borrowed assets in a market at `block`, rounded up, interest accrued."""
        return self.accrued(name, block).borrowed(
            self.position(name, account, block).borrow_shares)

    def health(self, name: str, account: str, block: Block = "latest") -> Health:
        """_isHealthy's two sides at `block`."""
        return self._health(name, self.position(name, account, block),
                            self.accrued(name, block), self.price(name, block))

    def healths(self, block: Block = "latest") -> dict[tuple[str, str], Health]:
        """_isHealthy's two sides of every seeded position at `block` (positions in one batch)."""
        markets = {name: (self.accrued(name, block), self.price(name, block))
                   for name in self.deployment.markets}
        art, tag = self.art["Morpho"], hex(block) if isinstance(block, int) else block
        outs = self.rpc.batch([("eth_call", [{"to": self.deployment.address, "data": art.call_data(
            "position", bytes.fromhex(self.market(name).id[2:]), account)}, tag])
            for name, account in self.positions])
        return {(name, account): self._health(
            name, MorphoPosition(*art.decode_output("position", out, 2)), *markets[name])
            for (name, account), out in zip(self.positions, outs, strict=True)}

    def _health(self, name: str, held: MorphoPosition, state: MarketState, price: int) -> Health:
        """_isHealthy's two sides of a position in a market whose totals are accrued."""
        return Health(max_borrow(held.collateral, price, self.market(name).params.lltv),
                      state.borrowed(held.borrow_shares))

    def oracle_txs(self, sender: str, answers: Mapping[str, int], moved: str) -> list[Tx]:
        """setPrice of every market whose collateral or loan is `moved`, for the aggregators'
        new `answers`."""
        return [Tx(sender, m.params.oracle, self.art["OracleMock"].call_data(
            "setPrice", market_oracle_price(m, answers, self.aave)), SET_PRICE_GAS,
            f"setPrice {m.spec.name}")
            for m in self.deployment.markets.values() if moved in (m.spec.collateral,
                                                                   m.spec.loan)]

    def liquidate(self, name: str, account: str, seized: int = 0,
                  repaid_shares: int = 0) -> dict[str, Any]:
        """Morpho.liquidate from the liquidator (funded with the loan token), seizing `seized`
        collateral or repaying `repaid_shares`; LiquidationFailed carries Morpho's reason
        (e.g. 'position is healthy')."""
        market = self.market(name)
        token = aave("MintableERC20")
        loan = market.params.loan_token
        needed = int(self.borrowed(name, account) * LIQUIDATION_MINT_MARGIN) + 1
        self.rpc.transact(self.liquidator, loan, token.call_data("mint", self.liquidator, needed),
                          f"mint {market.spec.loan}")
        self.rpc.transact(self.liquidator, loan,
                          token.call_data("approve", self.deployment.address, MAX_UINT),
                          f"approve {market.spec.loan}")
        data = self.art["Morpho"].call_data("liquidate", market.params.words(), account, seized,
                                            repaid_shares, b"")
        try:
            return self.rpc.transact(self.liquidator, self.deployment.address, data,
                                     f"liquidate {account} in {name}")
        except TxFailed as exc:
            raise LiquidationFailed(exc.what, exc.reason, exc.receipt) from exc
