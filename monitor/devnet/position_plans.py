"""Seeded, varied Aave positions to open on the devnet: who holds what, owing what, at which HF.

Health factors cluster just above 1 (where liquidation clusters live) with a tail to 2; the mix
covers single- and multi-collateral longs against USDC, mixed debts, stablecoin-backed shorts and
eMode WETH loops, sized log-normally like real books.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from eth_utils.crypto import keccak

from monitor.devnet.aave_deploy import ETH_EMODE, RESERVES, EModeParams, ReserveParams

HF_LOW: Final = 1.02
HF_HIGH: Final = 2.0
HF_SKEW: Final = 3.0  # HF = low + (high - low)·u^skew: median ≈ 1.14, mostly within 1.02..1.3
SIZE_MEDIAN_USD: Final = 20_000.0
SIZE_SIGMA: Final = 1.1
SIZE_BOUNDS_USD: Final = (500.0, 3_000_000.0)
KINDS: Final = (("single", 0.40), ("multi", 0.22), ("mixed-debt", 0.12), ("short", 0.12),
                ("loop", 0.14))
LONG_COLLATERAL: Final = (("WETH", 0.60), ("WBTC", 0.25), ("LINK", 0.15))
STABLE: Final = "USDC"
LOOP_ASSET: Final = "WETH"


@dataclass(frozen=True)
class PositionPlan:
    """One account's intended position: token units per collateral and debt asset."""

    account: str
    kind: str  # single, multi, mixed-debt, short or loop
    target_health_factor: float
    collateral: dict[str, int]
    debt: dict[str, int]
    emode: int = 0


def account_address(seed: int, index: int) -> str:
    """A deterministic, key-less address for seeded account `index` (anvil impersonates it)."""
    digest = keccak(b"monitor-devnet-account" + seed.to_bytes(8, "big", signed=True)
                    + index.to_bytes(8, "big"))
    return "0x" + digest[12:].hex()


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    """One name drawn by weight."""
    names = [name for name, _ in weighted]
    return rng.choices(names, weights=[w for _, w in weighted])[0]


def _split(rng: random.Random, total: float, names: list[str]) -> dict[str, float]:
    """`total` USD shared among `names` in random (Dirichlet-like) proportions."""
    draws = [rng.expovariate(1.0) for _ in names]
    return {name: total * d / sum(draws) for name, d in zip(names, draws, strict=True)}


def draw_size(rng: random.Random) -> float:
    """A position's USD size: log-normal around SIZE_MEDIAN_USD, within SIZE_BOUNDS_USD."""
    drawn = rng.lognormvariate(math.log(SIZE_MEDIAN_USD), SIZE_SIGMA)
    return float(min(max(drawn, SIZE_BOUNDS_USD[0]), SIZE_BOUNDS_USD[1]))


def draw_health_factor(rng: random.Random) -> float:
    """A target health factor, mostly just above 1 with a tail to HF_HIGH."""
    return HF_LOW + (HF_HIGH - HF_LOW) * float(rng.random() ** HF_SKEW)


def _legs(rng: random.Random, kind: str, size: float) -> tuple[dict[str, float], dict[str, float]]:
    """Collateral USD per asset and debt weights per asset for a position kind."""
    if kind == "single":
        return {_pick(rng, LONG_COLLATERAL): size}, {STABLE: 1.0}
    if kind == "multi":
        names = rng.sample([n for n, _ in LONG_COLLATERAL], rng.choice((2, 3)))
        return _split(rng, size, names), {STABLE: 1.0}
    if kind == "mixed-debt":
        held = _pick(rng, LONG_COLLATERAL)
        other = rng.choice([n for n, _ in LONG_COLLATERAL if n != held])
        share = rng.uniform(0.3, 0.7)
        return {held: size}, {STABLE: share, other: 1.0 - share}
    if kind == "short":
        return {STABLE: size}, {_pick(rng, LONG_COLLATERAL): 1.0}
    return {LOOP_ASSET: size}, {LOOP_ASSET: 1.0}


def plan_positions(n_accounts: int, seed: int = 0, first_index: int = 0,
                   reserves: tuple[ReserveParams, ...] = RESERVES,
                   emode: EModeParams | None = ETH_EMODE,
                   prices: Mapping[str, float] | None = None) -> list[PositionPlan]:
    """`n_accounts` positions whose health factor at `prices` (default: start prices) is the
    drawn target: debt USD = Σ collateral USD · liquidation threshold / target HF."""
    params = {r.symbol: r for r in reserves}
    price = dict(prices or {r.symbol: r.price for r in reserves})
    kinds = tuple((k, w) for k, w in KINDS if k != "loop" or emode is not None)
    rng = random.Random(seed * 1_000_003 + first_index)
    plans = []
    for index in range(first_index, first_index + n_accounts):
        kind = _pick(rng, kinds)
        size = draw_size(rng)
        target = draw_health_factor(rng)
        collateral_usd, debt_weights = _legs(rng, kind, size)
        in_emode = kind == "loop" and emode is not None
        capacity = sum(usd * ((emode.liquidation_threshold if in_emode and emode else
                               params[a].liquidation_threshold) / 1e4)
                       for a, usd in collateral_usd.items())
        debt_usd = capacity / target
        plans.append(PositionPlan(
            account_address(seed, index), kind, target,
            {a: _units(usd, price[a], params[a].decimals) for a, usd in collateral_usd.items()},
            {a: _units(debt_usd * w, price[a], params[a].decimals)
             for a, w in debt_weights.items()},
            emode.category if in_emode and emode else 0))
    return plans


def _units(usd: float, price: float, decimals: int) -> int:
    """USD worth of a token in its smallest units, rounded down (never more debt than planned)."""
    return max(int(usd / price * 10**decimals), 1)
