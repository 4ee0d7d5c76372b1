"""Hypothesis strategies shared by the risk core's property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from monitor.risk import CollateralLeg, DebtLeg, LendingPosition, PerpPosition, Position

ASSETS = ("WETH", "WBTC", "LINK", "USDC")
PRICES = {"WETH": 3000.0, "WBTC": 60000.0, "LINK": 15.0, "USDC": 1.0}
PROTOCOLS = ("aave-v3", "compound-v3", "morpho-blue", "hyperliquid")

amounts = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
fractions = st.floats(min_value=0.05, max_value=0.97)
bonuses = st.floats(min_value=0.0, max_value=0.2)


@st.composite
def lending(draw: st.DrawFn, pid: str) -> LendingPosition:
    """A lending position with 1–3 collateral legs and 0–2 debts (an asset may be on both)."""
    collateral = tuple(CollateralLeg(draw(st.sampled_from(ASSETS)), draw(amounts),
                                     draw(fractions), draw(bonuses))
                       for _ in range(draw(st.integers(1, 3))))
    debt = tuple(DebtLeg(draw(st.sampled_from(ASSETS)), draw(amounts))
                 for _ in range(draw(st.integers(0, 2))))
    return LendingPosition(pid, draw(st.sampled_from(PROTOCOLS[:3])), "0xa", collateral, debt,
                           draw(st.sampled_from([1.0, 0.5])))


@st.composite
def perp(draw: st.DrawFn, pid: str) -> PerpPosition:
    """An isolated perp, long or short, leverage from below 1 to 50."""
    asset = draw(st.sampled_from(ASSETS[:3]))
    size = draw(amounts) * draw(st.sampled_from([1.0, -1.0]))
    entry = PRICES[asset] * draw(st.floats(0.5, 1.5))
    margin = abs(size) * entry / draw(st.floats(0.5, 50.0))
    return PerpPosition(pid, "hyperliquid", "0xb", asset, size, entry, margin,
                        draw(st.floats(0.0, 0.1)))


@st.composite
def positions(draw: st.DrawFn, max_size: int = 30) -> list[Position]:
    """Positions with distinct ids."""
    count = draw(st.integers(1, max_size))
    return [draw(st.one_of(lending(f"p{i}"), perp(f"p{i}"))) for i in range(count)]


@st.composite
def prices(draw: st.DrawFn) -> dict[str, float]:
    """Prices moved up to 10x either way from the reference ones."""
    return {a: p * draw(st.floats(0.1, 10.0)) for a, p in PRICES.items()}
