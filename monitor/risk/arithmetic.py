"""Registry of protocols whose own integer arithmetic the risk core reproduces, so that the
figures served for their positions equal the chain's; every other position is valued with the
generic formula. Adding a protocol is one entry in ARITHMETIC."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol

from monitor.risk.aave_v3 import ARITHMETIC as AAVE_V3
from monitor.risk.aave_v3 import PROTOCOL as AAVE_V3_PROTOCOL
from monitor.risk.morpho_blue import ARITHMETIC as MORPHO_BLUE
from monitor.risk.morpho_blue import PROTOCOL as MORPHO_BLUE_PROTOCOL
from monitor.risk.positions import LendingPosition

GENERIC_ROUNDING: Final = 1e-9  # the generic formula against itself summed in another order


class ExactArithmetic(Protocol):
    """A protocol's own valuation of the positions it can value exactly; `generic_distance`
    bounds how far (relative) its health factor lies from the generic formula's."""

    generic_distance: float

    def applies(self, position: LendingPosition) -> bool:
        """True when the position carries what the exact arithmetic needs (raw amounts...)."""
        ...

    def health_factor(self, position: LendingPosition, prices: Mapping[str, float]) -> float:
        """The health factor as the protocol computes it (math.inf without debt)."""
        ...

    def values(self, position: LendingPosition,
               prices: Mapping[str, float]) -> tuple[float, float]:
        """(collateral_usd, debt_usd) as the protocol values them."""
        ...

    def crossing_price(self, position: LendingPosition, asset: str,
                       prices: Mapping[str, float], estimate: float,
                       liquidates_below: bool) -> float | None:
        """The price of `asset` where the protocol starts allowing liquidation, searched near
        the generic `estimate`; None when it does not cross there."""
        ...


ARITHMETIC: Final[dict[str, ExactArithmetic]] = {AAVE_V3_PROTOCOL: AAVE_V3,
                                                 MORPHO_BLUE_PROTOCOL: MORPHO_BLUE}


def exact_arithmetic(position: LendingPosition) -> ExactArithmetic | None:
    """The protocol arithmetic that values this position exactly, if any applies."""
    arithmetic = ARITHMETIC.get(position.protocol)
    return arithmetic if arithmetic is not None and arithmetic.applies(position) else None


def generic_distance(protocol: str) -> float:
    """How far (relative) a position's exact health factor may lie from its generic one: the
    band around 1 where only the exact one decides whether it is liquidatable."""
    arithmetic = ARITHMETIC.get(protocol)
    return GENERIC_ROUNDING if arithmetic is None else arithmetic.generic_distance
