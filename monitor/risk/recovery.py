"""How much of its collateral's value a position's protocol counts against the debt when a
liquidation takes all of it: the generic rule counts it whole (bad debt = debt − collateral);
Morpho Blue repays only collateral / LIF and books the rest as bad debt. Levels carry the
recovered equity, so cascades and contagion book bad debt as each protocol does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from monitor.risk.morpho_blue import PROTOCOL as MORPHO_BLUE
from monitor.risk.morpho_blue import recovery as morpho_blue_recovery
from monitor.risk.positions import LendingPosition, Position

RULES: Final[dict[str, Callable[[LendingPosition], float]]] = {
    MORPHO_BLUE: morpho_blue_recovery,
}


def recovery(position: Position) -> float:
    """The share of its collateral's value a full liquidation of the position repays (1.0 unless
    its protocol has a rule; perps have no collateral legs)."""
    rule = RULES.get(position.protocol)
    return 1.0 if rule is None or not isinstance(position, LendingPosition) else rule(position)
