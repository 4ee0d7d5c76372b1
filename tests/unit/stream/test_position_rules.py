"""The position rule (a large position near liquidation) observes exactly the large positions
within its band, and decodes only those: small positions near liquidation are filtered out on
the book's arrays, not valued one by one."""

from __future__ import annotations

from monitor.alerting.config import load_alerting
from monitor.risk import CollateralLeg, DebtLeg, LendingPosition, Position, PositionBook
from monitor.stream.alerts.evaluator import Evaluator
from monitor.stream.alerts.measures import PositionRules

PRICES = {"WETH": 3000.0, "USDC": 1.0}
RULE = "position-near-liquidation"  # default: within 2 % of liquidation, at least $10M


def loan(pid: str, weth: float, usdc_debt: float) -> LendingPosition:
    """A WETH-collateral, USDC-debt position (liquidation threshold 0.8)."""
    return LendingPosition(
        position_id=pid, protocol="generic", account=pid, version=(1, 0), timestamp=0.0,
        collateral=(CollateralLeg("WETH", weth, 0.8, 0.05),),
        debt=(DebtLeg("USDC", usdc_debt),))


def test_only_large_positions_near_liquidation_are_decoded_and_observed() -> None:
    cfg = load_alerting(None)
    rule = cfg.rules[RULE]
    near = 1.0 + rule.threshold / 2  # inside the band
    big = loan("big", 10_000.0, 10_000 * 3000 * 0.8 / near)  # $30M collateral
    held: list[Position] = [big, loan("far", 10_000.0, 1_000_000.0)]
    held += [loan(f"small-{i}", 1.0, 3000 * 0.8 / near) for i in range(500)]
    decoded: list[str] = []
    by_id = {p.position_id: p for p in held}

    def find(pid: str) -> Position | None:
        decoded.append(pid)
        return by_id.get(pid)

    evaluator = Evaluator(cfg, lambda *_: None)
    PositionRules(cfg, evaluator, lambda _: 0, find).scan(
        {0: PositionBook.from_positions(held)}, PRICES)
    assert decoded == ["big"]
    assert [evaluator.held[fp].subject for fp in evaluator.held_by(RULE)] == ["big"]
