"""`monitor bench`: the risk core's benchmark (book build, reprice, cluster rebuild, cascade
trigger search, array memory) on a seeded synthetic book, printed as JSON with medians.
benchmarks/risk_core.py runs the same code.

reprice: WBTC ticks, then the WETH liquidation levels are brought up to date (WETH is held by
about a quarter of the positions; the book recomputes only those whose other assets' prices
moved, here the positions also holding WBTC); "all moved": every price but WETH's ticks, so
every WETH level of a position holding another asset is recomputed (the worst case); cluster
rebuild: those levels bucketed into a ClusterMap (aggregate, over every level); clusters after
changes: 100 positions replaced, then the WETH clusters asked for, the upserts included (the
book's running sums take away and count only the changed levels: what a backfill's partials
cost, beside the rebuild);
trigger search: both sides, 200 shock levels each, on the WETH clusters."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from monitor.argtypes import positive_int
from monitor.risk import (
    ClusterGrid,
    CollateralLeg,
    DebtLeg,
    LendingPosition,
    PerpPosition,
    Position,
    PositionBook,
    PowerLawDepth,
    find_cascade_trigger,
)
from monitor.risk.clusters import aggregate

PRICES: Final = {"WETH": 3000.0, "WBTC": 60000.0, "wstETH": 3500.0, "LINK": 15.0,
                 "SOL": 150.0, "USDC": 1.0, "USDT": 1.0, "DAI": 1.0}
VOLATILE: Final = ("WETH", "WBTC", "wstETH", "LINK", "SOL")
STABLE: Final = ("USDC", "USDT", "DAI")
# protocol, share of positions, liquidation threshold scale, bonus, close factor
LENDING: Final = (("aave-v3", 0.40, 1.00, 0.05, 1.0), ("compound-v3", 0.12, 1.06, 0.05, 1.0),
                  ("spark", 0.08, 1.00, 0.05, 1.0), ("morpho-blue", 0.10, 1.05, 0.04, 1.0))
PERP_SHARE: Final = 0.30
THRESHOLDS: Final = {"WETH": 0.83, "WBTC": 0.78, "wstETH": 0.81, "LINK": 0.68, "SOL": 0.65,
                     "USDC": 0.78, "USDT": 0.78, "DAI": 0.77}
DEPTH_USD_2PCT: Final = 25_000_000.0
SIZES: Final = (10_000, 100_000, 1_000_000)
CHANGED: Final = 100  # positions replaced before each "clusters after changes"


def generate_positions(n: int, seed: int = 0) -> list[Position]:
    """A realistic seeded mix: 70 % lending (1–3 collateral legs, 1–2 debts, a few looped),
    30 % isolated perps, sizes log-normal, health factors skewed towards 1."""
    rng = np.random.default_rng(seed)
    size_usd = np.exp(rng.normal(np.log(20_000), 1.5, n))
    hf = 1.0 + rng.gamma(1.3, 0.25, n)
    kind = rng.random(n)
    n_coll = rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1])
    n_debt = rng.choice([1, 2], n, p=[0.85, 0.15])
    coll_assets = rng.integers(0, len(VOLATILE), (n, 3))
    debt_assets = rng.integers(0, len(STABLE), (n, 2))
    looped = rng.random(n) < 0.05
    weights = rng.dirichlet(np.full(3, 2.0), n)
    split = rng.dirichlet(np.full(2, 2.0), n)
    side = np.where(rng.random(n) < 0.6, 1.0, -1.0)
    leverage = 1.0 + 19.0 * rng.beta(1.3, 3.5, n)
    spread = np.exp(0.03 * rng.standard_normal(n))
    cuts = np.cumsum([share for _, share, *_ in LENDING])
    positions: list[Position] = []
    for i in range(n):
        pid = f"p{i}"
        if kind[i] >= cuts[-1]:
            asset = VOLATILE[coll_assets[i, 0]]
            entry = PRICES[asset] * spread[i]
            qty = size_usd[i] / PRICES[asset]
            positions.append(PerpPosition(pid, "hyperliquid", f"a{i}", asset, side[i] * qty,
                                          entry, qty * entry / leverage[i], 0.5 / 20.0))
            continue
        proto, _, scale, bonus, close = LENDING[int(np.searchsorted(cuts, kind[i], "right"))]
        legs = int(n_coll[i])
        w = weights[i, :legs] / weights[i, :legs].sum()
        collateral = tuple(
            CollateralLeg(VOLATILE[coll_assets[i, j]], size_usd[i] * w[j]
                          / PRICES[VOLATILE[coll_assets[i, j]]],
                          min(0.97, THRESHOLDS[VOLATILE[coll_assets[i, j]]] * scale), bonus)
            for j in range(legs))
        borrow = sum(leg.amount * PRICES[leg.asset] * leg.liquidation_threshold
                     for leg in collateral) / hf[i]
        debts = (VOLATILE[coll_assets[i, 0]],) if looped[i] else tuple(
            STABLE[debt_assets[i, j]] for j in range(int(n_debt[i])))
        parts = split[i, : len(debts)] / split[i, : len(debts)].sum()
        debt = tuple(DebtLeg(a, borrow * parts[j] / PRICES[a]) for j, a in enumerate(debts))
        positions.append(LendingPosition(pid, proto, f"a{i}", collateral, debt, close))
    return positions


@dataclass(frozen=True)
class Timing:
    """Median and spread of repeated runs, in milliseconds."""

    median_ms: float
    min_ms: float
    runs: int


def timed(run: Callable[[], object], repeats: int) -> Timing:
    """Median wall time of `repeats` calls."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1e3)
    return Timing(statistics.median(samples), min(samples), repeats)


def bench_size(n: int, seed: int, repeats: int) -> dict[str, Any]:
    """Every figure of one book size."""
    positions = generate_positions(n, seed)
    build = timed(lambda: PositionBook.from_positions(positions), max(1, repeats // 4))
    book = PositionBook.from_positions(positions)
    prices = dict(PRICES)
    book.liquidation_prices("WETH", prices)
    ticks = iter(np.exp(np.random.default_rng(seed + 1).normal(0, 0.002, 10 * repeats + 10)))

    def reprice() -> object:
        prices["WBTC"] = PRICES["WBTC"] * next(ticks)
        return book.liquidation_prices("WETH", prices)

    reprice_t = timed(reprice, repeats)
    levels = book.liquidation_prices("WETH", prices)
    rebuild = timed(lambda: aggregate("WETH", ClusterGrid(), levels), repeats)

    def reprice_and_rebuild() -> object:
        prices["WBTC"] = PRICES["WBTC"] * next(ticks)
        return book.clusters("WETH", prices, ClusterGrid())

    both = timed(reprice_and_rebuild, repeats)

    def all_moved() -> object:
        move = next(ticks)
        prices.update((asset, PRICES[asset] * move) for asset in PRICES if asset != "WETH")
        return book.clusters("WETH", prices, ClusterGrid())

    worst = timed(all_moved, repeats)
    changes = iter(range(10**9))

    def after_changes() -> object:
        for _ in range(CHANGED):
            book.upsert(positions[next(changes) % n])
        return book.clusters("WETH", prices, ClusterGrid())

    after_changes()  # the running sums made once
    changed = timed(after_changes, repeats)
    clusters = book.clusters("WETH", prices, ClusterGrid())
    depth = PowerLawDepth(DEPTH_USD_2PCT)
    trigger = timed(lambda: [find_cascade_trigger(clusters, PRICES["WETH"], depth, side,
                                                  levels=200)
                             for side in ("down", "up")], repeats)
    return {
        "positions": n,
        "legs_per_row": book.width,
        "book_build_ms": build.median_ms,
        "positions_holding_asset": len(levels),
        "reprice_one_asset_ms": reprice_t.median_ms,
        "cluster_rebuild_ms": rebuild.median_ms,
        "reprice_plus_cluster_rebuild_ms": both.median_ms,
        "reprice_plus_cluster_rebuild_all_moved_ms": worst.median_ms,
        "clusters_after_100_changes_ms": changed.median_ms,
        "cluster_levels": len(clusters.levels),
        "trigger_search_200_levels_both_sides_ms": trigger.median_ms,
        "array_bytes_per_position": book.nbytes() / n,
        "repeats": repeats,
    }


def run_benchmark(sizes: Sequence[int] = SIZES, seed: int = 7, repeats: int = 9) -> dict[str, Any]:
    """The benchmark's JSON document."""
    return {"benchmark": "risk_core", "seed": seed,
            "results": [bench_size(n, seed, repeats) for n in sizes]}


def main(args: argparse.Namespace) -> int:
    """Run the benchmark and print its JSON."""
    print(json.dumps(run_benchmark(args.sizes, args.seed, args.repeats), indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `monitor bench`."""
    parser = subparsers.add_parser(
        "bench", help="benchmark the risk core (book build, reprice, clusters, cascade search)",
        description=__doc__)
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=list(SIZES),
                        help="book sizes to measure (default 1e4 1e5 1e6)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--repeats", type=positive_int, default=9,
                        help="runs per median (default 9)")
    parser.set_defaults(func=main)
