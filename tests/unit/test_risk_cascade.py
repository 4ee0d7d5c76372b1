"""Depth models, the cascade fixed point, the cluster projection's one-grid-step bound and the
vectorised trigger search."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.risk import (
    ClusterGrid,
    ConstantProductDepth,
    PerpPosition,
    PositionBook,
    PowerLawDepth,
    find_cascade_trigger,
    project_cascade,
    project_cascade_from_clusters,
)


def test_constant_product_uniswap_v2_weth_dai_2021_05_19() -> None:
    pool = ConstantProductDepth(reserve=23_221.35, fee=0.003)
    assert round(pool.price_after(2925.06, 2925.06, 1000.0, "down"), 2) == 2688.85
    no_fee = ConstantProductDepth(reserve=23_221.35)
    assert round(no_fee.price_after(2925.06, 2925.06, 1000.0, "down"), 2) == 2688.52
    assert no_fee.price_after(2925.06, 2925.06, 1256.1, "down") / 2925.06 == pytest.approx(0.9,
                                                                                       abs=1e-5)
    assert no_fee.price_after(1.0, 1.0, 23_221.35 / 2, "up") == pytest.approx(4.0)
    assert no_fee.price_after(1.0, 1.0, 23_221.35, "up") == float("inf")


def test_power_law() -> None:
    linear = PowerLawDepth(depth_usd_2pct=1_000_000.0)
    assert linear.price_after(100.0, 90.0, 10_000.0, "down") == pytest.approx(90 * 0.98)
    assert linear.price_after(100.0, 110.0, 10_000.0, "up") == pytest.approx(110 * 1.02)
    root = PowerLawDepth(depth_usd_2pct=1_000_000.0, exponent=0.5)
    assert root.price_after(100.0, 100.0, 40_000.0, "down") == pytest.approx(96.0)
    assert linear.price_after(100.0, 100.0, 1e9, "down") == 0.0
    with pytest.raises(ValueError, match="depth_usd_2pct"):
        PowerLawDepth(depth_usd_2pct=0.0)


def long_perp(pid: str, size: float, liquidation: float, entry: float = 100.0) -> PerpPosition:
    """A long perp without maintenance margin liquidating at `liquidation`."""
    return PerpPosition(pid, "hyperliquid", "0xb", "ETH", size, entry,
                        size * (entry - liquidation), 0.0)


BOOK = [long_perp("a", 10.0, 95.0), long_perp("b", 20.0, 90.0), long_perp("c", 50.0, 70.0)]
DEPTH = PowerLawDepth(depth_usd_2pct=10_000.0)  # g(Q) = 1 − 0.0002·Q at p0 = 100


def test_cascade_fixed_point_by_hand() -> None:
    quiet = project_cascade(BOOK, "ETH", {"ETH": 100.0}, 96.0, DEPTH)
    assert (quiet.terminal_price, quiet.amplification, quiet.rounds) == (96.0, 1.0, 0)
    one = project_cascade(BOOK, "ETH", {"ETH": 100.0}, 91.0, DEPTH)
    assert one.terminal_price == pytest.approx(91 * 0.998) and one.rounds == 1  # 90.818 > 90
    # 90.1 releases a (10): 89.9198 ≤ 90 releases b (20): 90.1 × 0.994 = 89.5594 > 70, stop
    two = project_cascade(BOOK, "ETH", {"ETH": 100.0}, 90.1, DEPTH)
    assert two.terminal_price == pytest.approx(90.1 * 0.994) and two.rounds == 2
    assert two.liquidated_usd == pytest.approx(10 * 95 + 20 * 90)
    assert two.liquidated_usd_by_protocol == {"hyperliquid": pytest.approx(2750.0)}
    assert two.amplification == pytest.approx((100 - 90.1 * 0.994) / 9.9)
    # at 89.5594 a owes 1000 − 50 against 10 × 89.5594, b 2000 − 200 against 20 × 89.5594
    assert two.bad_debt_usd == pytest.approx((950 - 895.594) + (1800 - 1791.188))
    assert two.side == "down"


def test_up_side_mirrors() -> None:
    shorts = [PerpPosition("s", "hyperliquid", "0xb", "ETH", -10.0, 100.0, 50.0, 0.0)]  # at 105
    up = project_cascade(shorts, "ETH", {"ETH": 100.0}, 105.0, DEPTH)
    assert up.side == "up" and up.terminal_price == pytest.approx(105 * 1.002)
    assert up.liquidated_usd == pytest.approx(1050.0)


@st.composite
def ladders(draw: st.DrawFn) -> list[PerpPosition]:
    """Long perps liquidating between 40 % and 100 % of the price 100."""
    count = draw(st.integers(1, 40))
    return [long_perp(f"p{i}", draw(st.floats(0.1, 500.0)), draw(st.floats(40.0, 99.9)))
            for i in range(count)]


@settings(max_examples=80, deadline=None)
@given(ladders(), st.floats(45.0, 99.0), st.sampled_from([0.0025, 0.01, 0.05]),
       st.floats(5_000.0, 500_000.0))
def test_cluster_projection_within_one_grid_step(book: list[PerpPosition], shock: float,
                                                 step: float, depth_usd: float) -> None:
    """exact(levels one step nearer p0) ≤ cluster ≤ exact, in terminal price."""
    depth, grid, prices = PowerLawDepth(depth_usd), ClusterGrid(step), {"ETH": 100.0}
    clusters = PositionBook.from_positions(book).clusters("ETH", prices, grid)
    nearer = [PerpPosition(p.position_id, p.protocol, p.account, p.asset, p.size,
                           p.entry_price * (1 + step), p.margin * (1 + step), 0.0) for p in book]
    exact = project_cascade(book, "ETH", prices, shock, depth).terminal_price
    bound = project_cascade(nearer, "ETH", prices, shock, depth).terminal_price
    approx = project_cascade_from_clusters(clusters, 100.0, shock, depth).terminal_price
    assert bound * (1 - 1e-9) <= approx <= exact * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(ladders(), st.floats(2_000.0, 200_000.0), st.floats(1.05, 4.0))
def test_trigger_search_equals_projecting_every_shock(book: list[PerpPosition], depth_usd: float,
                                                      a_min: float) -> None:
    depth = PowerLawDepth(depth_usd)
    clusters = PositionBook.from_positions(book).clusters("ETH", {"ETH": 100.0})
    found = find_cascade_trigger(clusters, 100.0, depth, "down", a_min=a_min, levels=50)
    for shock in 100.0 * (1.0 - 0.5 * np.arange(1, 51) / 50):
        projection = project_cascade_from_clusters(clusters, 100.0, float(shock), depth)
        if projection.amplification >= a_min:
            assert found is not None
            assert found.trigger_price == pytest.approx(shock, rel=1e-12)
            assert found.terminal_price == pytest.approx(projection.terminal_price, rel=1e-12)
            assert found.amplification == pytest.approx(projection.amplification, rel=1e-9)
            assert found.liquidated_usd == pytest.approx(projection.liquidated_usd, rel=1e-9)
            return
    assert found is None


def test_trigger_by_hand() -> None:
    clusters = PositionBook.from_positions(BOOK).clusters("ETH", {"ETH": 100.0})
    depth = PowerLawDepth(500.0)  # 10 units move the price 4 %
    found = find_cascade_trigger(clusters, 100.0, depth, "down", levels=100)
    # shocks every 0.5 %: 95 releases a: 91.2, A = 1.76; 94.5 → 90.72 and 94 → 90.24 stay
    # above b (90); 93.5 → 89.76 releases b: 30 units, 93.5 × 0.88 = 82.28, A = 17.72 / 6.5
    assert found is not None and found.side == "down"
    assert found.trigger_price == pytest.approx(93.5)
    assert found.terminal_price == pytest.approx(93.5 * 0.88)
    assert found.amplification == pytest.approx((100 - 93.5 * 0.88) / 6.5)
    assert found.liquidated_usd == pytest.approx(10 * 95 + 20 * 90)
    assert find_cascade_trigger(clusters, 100.0, depth, "up") is None


@settings(max_examples=60, deadline=None)
@given(ladders(), st.floats(2_000.0, 200_000.0), st.floats(1.05, 4.0), st.floats(0.0, 0.2),
       st.floats(0.0, 20_000.0))
def test_significant_trigger_equals_projecting_every_shock(
        book: list[PerpPosition], depth_usd: float, a_min: float, min_move: float,
        min_usd: float) -> None:
    """The trigger is the first shock that amplifies a_min times and either moves the price
    min_move beyond the shock or liquidates min_usd; its bad debt is the projection's."""
    depth = PowerLawDepth(depth_usd)
    clusters = PositionBook.from_positions(book).clusters("ETH", {"ETH": 100.0})
    found = find_cascade_trigger(clusters, 100.0, depth, "down", a_min=a_min, levels=50,
                                 min_induced_move=min_move, min_liquidated_usd=min_usd)
    for shock in 100.0 * (1.0 - 0.5 * np.arange(1, 51) / 50):
        projection = project_cascade_from_clusters(clusters, 100.0, float(shock), depth)
        induced = (shock - projection.terminal_price) / 100.0
        if projection.amplification >= a_min and (
                induced >= min_move or projection.liquidated_usd >= min_usd):
            assert found is not None
            assert found.trigger_price == pytest.approx(shock, rel=1e-12)
            assert found.induced_move == pytest.approx(induced, rel=1e-9, abs=1e-12)
            assert found.bad_debt_usd == pytest.approx(projection.bad_debt_usd, rel=1e-9,
                                                       abs=1e-6)
            return
    assert found is None


def test_a_sliver_just_below_the_price_is_not_a_significant_trigger() -> None:
    """One small perp just below the price doubles the first shock's move (the always-on
    alert of the crash replay); requiring a 1 % induced move or $5k liquidated skips it, and
    the real cluster further down is found instead."""
    sliver = long_perp("s", 1.0, 99.8)  # $100 liquidating 0.2 % below the price
    clusters = PositionBook.from_positions([sliver, *BOOK]).clusters("ETH", {"ETH": 100.0})
    depth = PowerLawDepth(500.0)
    noisy = find_cascade_trigger(clusters, 100.0, depth, "down", levels=200)
    assert noisy is not None and noisy.trigger_price == pytest.approx(99.75)
    assert noisy.induced_move < 0.01 and noisy.liquidated_usd < 200.0
    found = find_cascade_trigger(clusters, 100.0, depth, "down", levels=200,
                                 min_induced_move=0.01, min_liquidated_usd=5_000.0)
    assert found is not None and found.trigger_price < 95.0
    assert found.induced_move >= 0.01
