"""The numeric risk core: positions, health factors, liquidation prices, the columnar position
book, liquidation clusters, cascade and contagion projections (pure Python + numpy; no Kafka)."""

from monitor.risk.book import BookLevels, PositionBook
from monitor.risk.cascade import (
    CascadeProjection,
    CascadeTrigger,
    find_cascade_trigger,
    project_cascade,
    project_cascade_from_clusters,
)
from monitor.risk.clusters import (
    ClusterGrid,
    ClusterLevel,
    ClusterMap,
    build_clusters,
    liquidatable_within,
    merge_clusters,
)
from monitor.risk.contagion import (
    ContagionModel,
    ContagionProjection,
    JointCascade,
    project_contagion,
    run_joint,
)
from monitor.risk.contagion_step import BookStep, ContagionStep, PositionsStep, Release
from monitor.risk.depth import ConstantProductDepth, DepthModel, PowerLawDepth
from monitor.risk.positions import (
    MAX_AMOUNT,
    MAX_PRICE,
    MIN_PRICE,
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
from monitor.risk.sides import CASCADE_SIDES, LEVEL_SIDE, SIDES, CascadeSide, Side
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
    "CASCADE_SIDES",
    "LEVEL_SIDE",
    "MAX_AMOUNT",
    "MAX_PRICE",
    "MIN_PRICE",
    "SIDES",
    "BookLevels",
    "BookStep",
    "CascadeProjection",
    "CascadeSide",
    "CascadeTrigger",
    "ClusterGrid",
    "ClusterLevel",
    "ClusterMap",
    "CollateralLeg",
    "ConstantProductDepth",
    "ContagionModel",
    "ContagionProjection",
    "ContagionStep",
    "DebtLeg",
    "DepthModel",
    "InvalidPosition",
    "JointCascade",
    "LendingPosition",
    "LiquidationLevel",
    "MissingPrice",
    "PerpPosition",
    "Position",
    "PositionBook",
    "PositionLevel",
    "PositionsStep",
    "PowerLawDepth",
    "Release",
    "Side",
    "build_clusters",
    "find_cascade_trigger",
    "from_snapshot",
    "health_factor",
    "liquidatable_within",
    "liquidation_price",
    "liquidation_prices",
    "merge_clusters",
    "position_level",
    "position_values",
    "project_cascade",
    "project_cascade_from_clusters",
    "project_contagion",
    "run_joint",
    "to_snapshot",
]
