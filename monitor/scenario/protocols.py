"""Risk parameters of the lending protocols and the perp venue the synthetic market spans.

Figures are close to the Ethereum-mainnet deployments (thresholds, bonuses, close factors,
leverage caps) so the generated clusters sit where real ones do; they are not live values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class CollateralParams:
    """A collateral leg's asset with the threshold and bonus its protocol liquidates it at."""

    asset: str
    liquidation_threshold: float
    liquidation_bonus: float


@dataclass(frozen=True, slots=True)
class LendingMarket:
    """One shape of position on a lending protocol: its collateral legs and debt assets."""

    collateral: tuple[CollateralParams, ...]
    debt: tuple[str, ...]
    weight: float


@dataclass(frozen=True, slots=True)
class LendingProtocol:
    """A lending protocol: its share of positions, close factor and the markets it offers."""

    name: str
    share: float
    close_factor: float
    chain_id: int
    markets: tuple[LendingMarket, ...]


@dataclass(frozen=True, slots=True)
class PerpMarket:
    """A perp market; maintenance margin is half the initial margin at maximum leverage."""

    asset: str
    max_leverage: float
    weight: float

    @property
    def maintenance_margin_ratio(self) -> float:
        """Maintenance margin as a fraction of notional (Hyperliquid's rule)."""
        return 1.0 / (2.0 * self.max_leverage)


@dataclass(frozen=True, slots=True)
class PerpVenue:
    """A perp venue with isolated-margin positions, mostly long as in the 2025-10-10 flush."""

    name: str
    share: float
    chain_id: int
    long_share: float
    markets: tuple[PerpMarket, ...]


def morpho_bonus(lltv: float) -> float:
    """Morpho Blue's liquidation incentive: min(1.15, 1 / (0.3·LLTV + 0.7)) − 1."""
    return min(1.15, 1.0 / (0.3 * lltv + 0.7)) - 1.0


def _c(asset: str, threshold: float, bonus: float) -> CollateralParams:
    """Shorthand for a collateral leg's parameters."""
    return CollateralParams(asset, threshold, bonus)


def _morpho(collateral: str, loan: str, lltv: float, weight: float) -> LendingMarket:
    """An isolated Morpho Blue market: one collateral, one loan asset, an LLTV."""
    return LendingMarket((_c(collateral, lltv, morpho_bonus(lltv)),), (loan,), weight)


AAVE_WETH: Final = _c("WETH", 0.83, 0.05)
AAVE_WSTETH: Final = _c("wstETH", 0.81, 0.06)
AAVE_WBTC: Final = _c("WBTC", 0.78, 0.05)
AAVE_USDC: Final = _c("USDC", 0.78, 0.045)
AAVE_ETH_EMODE_WSTETH: Final = _c("wstETH", 0.95, 0.01)

LENDING: Final = (
    LendingProtocol("aave-v3", 0.40, 0.5, 1, (
        LendingMarket((AAVE_WETH,), ("USDC",), 0.25),
        LendingMarket((AAVE_WETH,), ("USDT",), 0.08),
        LendingMarket((AAVE_WBTC,), ("USDC",), 0.10),
        LendingMarket((AAVE_ETH_EMODE_WSTETH,), ("WETH",), 0.17),
        LendingMarket((AAVE_WETH, AAVE_WBTC), ("USDC",), 0.12),
        LendingMarket((AAVE_WETH, AAVE_WSTETH, AAVE_WBTC), ("USDC", "USDT"), 0.08),
        LendingMarket((AAVE_USDC,), ("WETH",), 0.12),
        LendingMarket((AAVE_USDC, _c("DAI", 0.77, 0.05)), ("WBTC",), 0.08),
    )),
    LendingProtocol("spark", 0.12, 0.5, 1, (
        LendingMarket((_c("WETH", 0.83, 0.05),), ("DAI",), 0.40),
        LendingMarket((_c("wstETH", 0.80, 0.07),), ("DAI",), 0.20),
        LendingMarket((_c("WBTC", 0.75, 0.07),), ("DAI",), 0.15),
        LendingMarket((_c("wstETH", 0.93, 0.01),), ("WETH",), 0.15),
        LendingMarket((_c("WETH", 0.83, 0.05), _c("wstETH", 0.80, 0.07)), ("DAI",), 0.10),
    )),
    # Comet: liquidateCF as the threshold, 1 − liquidationFactor as the bonus; absorb takes all.
    LendingProtocol("compound-v3", 0.18, 1.0, 1, (
        LendingMarket((_c("WETH", 0.895, 0.05),), ("USDC",), 0.45),
        LendingMarket((_c("WBTC", 0.77, 0.05),), ("USDC",), 0.20),
        LendingMarket((_c("WETH", 0.895, 0.05), _c("WBTC", 0.77, 0.05)), ("USDC",), 0.15),
        LendingMarket((_c("wstETH", 0.93, 0.025),), ("WETH",), 0.20),
    )),
    LendingProtocol("morpho-blue", 0.15, 1.0, 1, (
        _morpho("wstETH", "WETH", 0.945, 0.35),
        _morpho("wstETH", "USDC", 0.86, 0.20),
        _morpho("WBTC", "USDC", 0.86, 0.20),
        _morpho("WETH", "USDC", 0.86, 0.15),
        _morpho("WETH", "USDT", 0.915, 0.10),
    )),
)

PERPS: Final = PerpVenue("hyperliquid", 0.15, 999, 0.65, (
    PerpMarket("ETH", 25.0, 0.45),
    PerpMarket("BTC", 40.0, 0.35),
    PerpMarket("SOL", 20.0, 0.20),
))
