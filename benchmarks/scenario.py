"""Benchmark: generating synthetic markets (columns, then wire snapshots) and encoding them.

python benchmarks/scenario.py [--positions 1000000] [--repeat 3]  -> JSON with medians
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import orjson

from monitor.scenario.market import generate_market
from monitor.scenario.paths import price_path


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `fn` over `repeat` runs."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    """Print generation, snapshot and encoding times for one market size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    market = generate_market(args.positions, seed=1)
    generate_s = timed(lambda: generate_market(args.positions, seed=1), args.repeat)
    snapshots_s = timed(lambda: sum(1 for _ in market.snapshots()), args.repeat)
    encode_s = timed(lambda: [orjson.dumps(s) for s in market.snapshots()], args.repeat)
    path_s = timed(lambda: price_path("crash-2020-03-12", market.prices, 86_400), args.repeat)
    print(json.dumps({
        "benchmark": "scenario",
        "positions": args.positions,
        "repeat": args.repeat,
        "generate_columns_s_median": round(generate_s, 3),
        "snapshots_s_median": round(snapshots_s, 3),
        "snapshots_plus_orjson_s_median": round(encode_s, 3),
        "generate_plus_snapshots_s_median": round(generate_s + snapshots_s, 3),
        "crash_path_86400_steps_s_median": round(path_s, 3),
    }))


if __name__ == "__main__":
    main()
