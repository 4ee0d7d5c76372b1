"""A cascade that really happens on the devnet: a direct sale moves one pool down, then rounds of
(oracle keeper → liquidators selling what they seize into the pools) run until quiescence: no
position liquidatable at the oracle's prices, or no pool price moved by the round before. What
the chain did is what the cascade projections are checked against (tests/integration)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

from monitor.devnet.devnet import Devnet
from monitor.devnet.liquidator import Liquidator, Sweep
from monitor.devnet.morpho_liquidator import MorphoLiquidator
from monitor.devnet.oracle_keeper import OracleKeeper
from monitor.risk.aave_v3 import PROTOCOL as AAVE
from monitor.risk.morpho_blue import ORACLE_PRICE_SCALE
from monitor.risk.morpho_blue import PROTOCOL as MORPHO

MAX_ROUNDS: Final = 40
Quiescence = Literal["no-liquidatable", "no-price-move", "max-rounds"]


@dataclass
class CascadeResult:
    """What the chain did after the shock: pool prices, USD seized and repaid and bad debt per
    protocol (at the oracle prices of the block), rounds and blocks."""

    asset: str
    shock: float
    start_prices: dict[str, float]
    shocked_prices: dict[str, float]
    terminal_prices: dict[str, float] = field(default_factory=dict)
    liquidated_usd: dict[str, float] = field(default_factory=lambda: {AAVE: 0.0, MORPHO: 0.0})
    repaid_usd: dict[str, float] = field(default_factory=lambda: {AAVE: 0.0, MORPHO: 0.0})
    liquidations: dict[str, int] = field(default_factory=lambda: {AAVE: 0, MORPHO: 0})
    bad_debt_usd: dict[str, float] = field(default_factory=lambda: {AAVE: 0.0, MORPHO: 0.0})
    rounds: int = 0
    blocks: tuple[int, int] = (0, 0)
    quiescence: Quiescence = "max-rounds"

    def book(self, protocol: str, sweep: Sweep) -> None:
        """Add one sweep's liquidations."""
        self.liquidated_usd[protocol] += sweep.seized_usd
        self.repaid_usd[protocol] += sweep.repaid_usd
        self.liquidations[protocol] += sweep.liquidations
        self.bad_debt_usd[protocol] += sweep.bad_debt_usd

    def lines(self) -> list[str]:
        """What happened, for the terminal."""
        moves = ", ".join(f"{a} {self.start_prices[a]:,.2f} -> {p:,.2f} "
                          f"({p / self.start_prices[a] - 1:+.2%})"
                          for a, p in self.terminal_prices.items())
        out = [f"shock: {self.asset} pool -{self.shock:.1%} by a direct sale "
               f"({self.shocked_prices[self.asset]:,.2f}); quiescent after {self.rounds} rounds "
               f"({self.quiescence}), blocks {self.blocks[0]}-{self.blocks[1]}",
               f"terminal pool prices: {moves}"]
        out += [f"{p}: {self.liquidations[p]} liquidations, ${self.liquidated_usd[p]:,.0f} "
                f"collateral seized, ${self.repaid_usd[p]:,.0f} repaid, "
                f"${self.bad_debt_usd[p]:,.0f} bad debt" for p in (AAVE, MORPHO)]
        return out


def cascade(devnet: Devnet, shock: float, asset: str = "WETH",
            report: Callable[[str], None] | None = None,
            max_rounds: int = MAX_ROUNDS) -> CascadeResult:
    """Sell into `asset`'s pool until its spot is (1 − shock) × spot, then let the oracle keeper
    and both liquidators (selling into the pools) run to quiescence."""
    pools, keeper = devnet.pools, OracleKeeper(devnet)
    keeper.sync()
    start = pools.spots()
    first = devnet.block_number()
    pools.move(devnet.deployer, asset, 1.0 - shock)
    result = CascadeResult(asset, shock, start, pools.spots())
    aave, morpho = Liquidator(devnet, pools=pools), MorphoLiquidator(devnet, pools=pools)
    while result.rounds < max_rounds:
        moved = keeper.sync()
        if result.rounds and not moved:
            result.quiescence = "no-price-move"
            break
        swept = aave.sweep(), morpho.sweep()
        result.rounds += 1
        for protocol, sweep in zip((AAVE, MORPHO), swept, strict=True):
            result.book(protocol, sweep)
        if report is not None:
            report(f"round {result.rounds}: oracles {_prices(moved)}; "
                   + "; ".join(s.line() for s in swept))
        if not any(s.liquidations for s in swept):
            result.quiescence = "no-liquidatable"
            break
    result.terminal_prices = pools.spots()
    result.blocks = (first, devnet.block_number())
    _book_shortfalls(devnet, result)
    return result


def _prices(moved: dict[str, float]) -> str:
    """Prices set by the keeper, briefly."""
    return ", ".join(f"{a} {p:,.2f}" for a, p in moved.items()) or "unchanged"


def _book_shortfalls(devnet: Devnet, result: CascadeResult) -> None:
    """Bad debt left in positions at the terminal oracle prices: Aave accounts whose debt
    exceeds their collateral, Morpho positions whose debt exceeds their collateral's value
    (beside the bad debt Morpho booked as it liquidated)."""
    for data in devnet.account_data().values():
        result.bad_debt_usd[AAVE] += max(data.total_debt_base - data.total_collateral_base, 0) / 1e8
    usdc = devnet.deployment.assets["USDC"].decimals
    for name, account in devnet.morpho.positions:
        held = devnet.morpho.position(name, account)
        if not held.borrow_shares:
            continue
        owed = devnet.morpho.borrowed(name, account)
        value = held.collateral * devnet.morpho.price(name) // ORACLE_PRICE_SCALE
        result.bad_debt_usd[MORPHO] += max(owed - value, 0) / 10 ** usdc
