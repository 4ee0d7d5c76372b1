"""The numeric risk core: positions, health factors, liquidation prices, the columnar position
book, liquidation clusters, cascade and contagion projections (pure Python + numpy; no Kafka)."""

from monitor.risk.positions import (
    CollateralLeg,
    DebtLeg,
    InvalidPosition,
    LendingPosition,
    MissingPrice,
    PerpPosition,
    Position,
    from_snapshot,
    to_snapshot,
)
from monitor.risk.valuation import (
    LiquidationLevel,
    PositionLevel,
    health_factor,
    liquidation_price,
    liquidation_prices,
    position_level,
    position_values,
)

__all__ = [
    "CollateralLeg",
    "DebtLeg",
    "InvalidPosition",
    "LendingPosition",
    "LiquidationLevel",
    "MissingPrice",
    "PerpPosition",
    "Position",
    "PositionLevel",
    "from_snapshot",
    "health_factor",
    "liquidation_price",
    "liquidation_prices",
    "position_level",
    "position_values",
    "to_snapshot",
]
