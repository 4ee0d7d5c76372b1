"""A small lending market for pipeline tests: snapshots, prices, and what monitor.risk says
the web view must answer for them."""

from __future__ import annotations

import math
import time
from typing import Any

from monitor.risk import (
    ClusterGrid,
    Position,
    build_clusters,
    health_factor,
    liquidation_prices,
    position_values,
)

PRICES = {"WETH": 3000.0, "WBTC": 60000.0, "USDC": 1.0, "DAI": 1.0}
N_POSITIONS = 40


def snapshot(i: int, version: int = 1, **changes: Any) -> dict[str, Any]:
    """Position i: WETH-backed stablecoin debt, every third one also holding WBTC."""
    collateral = [{"asset": "WETH", "amount": 1.0 if i % 3 == 0 else 5.0 + i,
                   "liquidation_threshold": 0.825, "liquidation_bonus": 0.05}]
    if i % 3 == 0:
        collateral.append({"asset": "WBTC", "amount": 0.3 + i / 100,
                           "liquidation_threshold": 0.78, "liquidation_bonus": 0.065})
    protocol = ("aave-v3", "spark", "compound-v3")[i % 3]
    return {"position_id": f"{protocol}:1:0x{i:040x}", "protocol": protocol,
            "account": f"0x{i:040x}", "kind": "lending", "collateral": collateral,
            "debt": [{"asset": "USDC" if i % 2 else "DAI", "amount": 9000.0 + 700.0 * i}],
            "close_factor": 1.0, "version": [version, i], "timestamp": 1.7e9, **changes}


def price(asset: str, value: float, version: int = 1) -> dict[str, Any]:
    """A price update."""
    return {"asset": asset, "price": value, "source": "test", "version": [version, 0],
            "timestamp": time.time()}


def expected_position(position: Position) -> dict[str, Any]:
    """What GET /positions/{id}/ must answer, computed by monitor.risk."""
    hf = health_factor(position, PRICES)
    collateral_usd, debt_usd = position_values(position, PRICES)
    return {"health_factor": hf if math.isfinite(hf) else None,
            "collateral_usd": collateral_usd, "debt_usd": debt_usd,
            "liquidation_prices": {a: {"price": lvl.price, "side": lvl.side}
                                   for a, lvl in liquidation_prices(position, PRICES).items()}}


def close(actual: Any, expected: Any) -> bool:
    """Structural equality with floats compared to 1e-9 relative (sums merge in any order)."""
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and actual.keys() == expected.keys()
                and all(close(actual[k], v) for k, v in expected.items()))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(close(a, e) for a, e in zip(actual, expected, strict=True)))
    if isinstance(expected, float) and isinstance(actual, int | float):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
    return bool(actual == expected)


def answered_position(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of a /positions/ answer that expected_position() predicts."""
    return {k: body[k] for k in ("health_factor", "collateral_usd", "debt_usd",
                                 "liquidation_prices")}


def expected_levels(positions: list[Position], asset: str, step: float) -> list[dict[str, Any]]:
    """The asset's cluster levels as monitor.risk builds them from all positions."""
    return [level.to_dict()
            for level in build_clusters(positions, asset, PRICES, ClusterGrid(step=step)).levels]


