"""The asset universe of the synthetic market: start prices and how each asset follows ETH."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """One asset: its start price and its log-return beta to ETH, the market's driver."""

    symbol: str
    price: float  # USD at the market's opening
    beta: float
    idiosyncratic_vol: float = 0.0  # daily log-return volatility of its own, beside ETH's
    stable: bool = False  # pegged: its price never moves
    same_as: str | None = None  # a wrapped/bridged twin that moves exactly like this symbol


ETH_PRICE: Final = 3000.0
WSTETH_RATIO: Final = 1.17  # wstETH/ETH: staked ETH accrues rewards into the wrapper's price

_SPECS: Final = (
    AssetSpec("WETH", ETH_PRICE, 1.0),
    AssetSpec("ETH", ETH_PRICE, 1.0, same_as="WETH"),
    AssetSpec("wstETH", ETH_PRICE * WSTETH_RATIO, 1.0, idiosyncratic_vol=0.0005),
    AssetSpec("WBTC", 60000.0, 0.8, idiosyncratic_vol=0.006),
    AssetSpec("BTC", 60000.0, 0.8, idiosyncratic_vol=0.006, same_as="WBTC"),
    AssetSpec("SOL", 150.0, 1.3, idiosyncratic_vol=0.012),
    AssetSpec("LINK", 15.0, 1.2, idiosyncratic_vol=0.012),
    AssetSpec("USDC", 1.0, 0.0, stable=True),
    AssetSpec("DAI", 1.0, 0.0, stable=True),
    AssetSpec("USDT", 1.0, 0.0, stable=True),
)

ASSETS: Final = MappingProxyType({spec.symbol: spec for spec in _SPECS})
DRIVER: Final = "WETH"  # the asset whose path the others follow
DEFAULT_BETA: Final = 1.0  # an unknown volatile asset moves with ETH
DEFAULT_IDIOSYNCRATIC_VOL: Final = 0.01


def spec_for(symbol: str) -> AssetSpec:
    """The spec of a known asset, or an ETH-following default for one the table lacks."""
    known = ASSETS.get(symbol)
    if known is not None:
        return known
    return AssetSpec(symbol, 1.0, DEFAULT_BETA, DEFAULT_IDIOSYNCRATIC_VOL)


def start_prices() -> dict[str, float]:
    """Start prices of every asset in the universe (USD)."""
    return {symbol: spec.price for symbol, spec in ASSETS.items()}
