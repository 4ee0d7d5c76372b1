"""A generated market for joint-contagion tests and the benchmark: the synthetic market with
Aave V3 legs made exact (raw amounts and decimals: the pool's own integer arithmetic values
them) and every Morpho Blue position quoted at its market's own oracle price, with the betas of
the default model and depths thin enough that a 20 % WETH shock cascades across assets."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from monitor.risk import (
    CollateralLeg,
    ContagionModel,
    DebtLeg,
    Position,
    PowerLawDepth,
    from_snapshot,
)
from monitor.scenario.market import generate_market

DECIMALS: Final = 8
BETAS: Final = {"WETH": {"ETH": 1.0, "wstETH": 1.0, "WBTC": 0.8, "BTC": 0.8, "SOL": 1.3,
                         "LINK": 1.2}}
DEPTH_SHARE: Final = 0.4  # each asset's 2 % depth, as a share of the book's USD in it
WETH_THINNING: Final = 0.05  # WETH's depth in a model file, as a share of the model's: a
# significant down trigger (amplification 2 at a ~2.5 % shock with 400 positions)


def _exact(leg: dict[str, Any]) -> dict[str, Any]:
    """A leg with an exact decimal amount."""
    amount = Decimal(repr(leg["amount"])).quantize(Decimal(1).scaleb(-DECIMALS))
    return {**leg, "amount": str(max(amount, Decimal(1).scaleb(-DECIMALS))),
            "decimals": DECIMALS}


def market_key(snapshot: dict[str, Any]) -> str:
    """The market price key of a Morpho snapshot (one market per collateral/loan pair)."""
    return f"morpho-blue:1:{snapshot['collateral'][0]['asset']}-{snapshot['debt'][0]['asset']}"


def snapshots(n: int, seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """n snapshots and the prices (market prices included) they are valued at."""
    market = generate_market(n, seed)
    prices = dict(market.prices)
    out: list[dict[str, Any]] = []
    for snap in market.snapshots():
        if snap["protocol"] in ("aave-v3", "morpho-blue"):
            snap = {**snap, "collateral": [_exact(leg) for leg in snap["collateral"]],
                    "debt": [_exact(leg) for leg in snap["debt"]]}
        if snap["protocol"] == "morpho-blue":
            key = market_key(snap)
            prices[key] = (prices[snap["collateral"][0]["asset"]]
                           / prices[snap["debt"][0]["asset"]])
            snap["market_price"] = key
        out.append(snap)
    return out, prices


def model(positions: list[Position], prices: dict[str, float]) -> ContagionModel:
    """The default betas and, per asset, a linear depth of DEPTH_SHARE of the book's USD in it."""
    held: dict[str, float] = {}
    for position in positions:
        if position.kind == "perp":
            held[position.asset] = held.get(position.asset, 0.0) + abs(position.size)
        else:
            legs: tuple[CollateralLeg | DebtLeg, ...] = (*position.collateral, *position.debt)
            for leg in legs:
                held[leg.asset] = held.get(leg.asset, 0.0) + leg.amount
    depths = {a: PowerLawDepth(DEPTH_SHARE * units * prices[a]) for a, units in held.items()
              if a not in ("USDC", "USDT", "DAI")}
    return ContagionModel(betas=BETAS, depths=depths)


def positions(n: int, seed: int = 0) -> tuple[list[Position], dict[str, float]]:
    """The snapshots as positions, and their prices."""
    snaps, prices = snapshots(n, seed)
    return [from_snapshot(s) for s in snaps], prices


def model_file(path: Path, model: ContagionModel) -> Path:
    """A model file giving every asset of the model its depth (WETH's thinned by WETH_THINNING,
    so that it has a significant down trigger) and betas, significance scaled to the book."""
    lines = ["[cascade]", "min_liquidated_usd = 100_000.0", ""]
    for asset, depth in sorted(model.depths.items()):
        assert isinstance(depth, PowerLawDepth)
        usd = depth.depth_usd_2pct * (WETH_THINNING if asset == "WETH" else 1.0)
        lines += [f"[assets.{asset}]", f"depth_usd_2pct = {usd!r}", "depth_exponent = 1.0",
                  f"[assets.{asset}.betas]"]
        lines += [f"{other} = {beta!r}" for other, beta in model.betas.get(asset, {}).items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path
