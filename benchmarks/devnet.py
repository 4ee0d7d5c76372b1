"""Benchmark: starting the devnet (anvil), deploying Aave V3 and seeding accounts.

python benchmarks/devnet.py [--accounts 300 1000] [--repeat 5]  -> JSON with medians
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from monitor.devnet.devnet import Devnet


def one_run(accounts: int) -> dict[str, Any]:
    """Seconds for each phase of one fresh devnet, plus what seeding did."""
    devnet = Devnet()
    t0 = time.perf_counter()
    try:
        devnet.start()
        t1 = time.perf_counter()
        stats = devnet.seed(accounts, seed=0)
        t2 = time.perf_counter()
        return {"start_and_deploy_s": t1 - t0, "seed_s": t2 - t1, "total_s": t2 - t0,
                "transactions": stats.transactions, "blocks": stats.blocks,
                "max_gas_used": stats.gas_used}
    finally:
        devnet.stop()


def main() -> None:
    """Print per-size medians as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    result: dict[str, Any] = {}
    for accounts in args.accounts:
        runs = [one_run(accounts) for _ in range(args.repeat)]
        medians = {key: round(statistics.median(r[key] for r in runs), 3)
                   for key in ("start_and_deploy_s", "seed_s", "total_s")}
        result[str(accounts)] = {
            "accounts": accounts, "runs": len(runs), **medians,
            "transactions": runs[0]["transactions"], "blocks": runs[0]["blocks"],
            "max_gas_used_per_call": runs[0]["max_gas_used"],
            "accounts_per_s": round(accounts / medians["seed_s"]),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
