"""The truth test: the cascade the worker projected before a shock, from what it ingested,
against the cascade the devnet then really runs (Aave V3, Morpho Blue, Uniswap v2 pools, the
oracle keeper and liquidators selling into the pools).

The projection is the worker's own: the joint contagion it serves at /stress/ for the devnet
model's stress shocks (monitor/devnet_config.toml: the WETH pool's spot -3, -6 and -10 % from
the oracle price the keeper set to it, `betas = {}`: the chain's shock is a direct sale into the
WETH pool, and the other assets move only by what the liquidations trade in their own pools),
read once the worker holds every record the follower published. It must equal the risk core's
project_contagion over those records built as the worker builds it (project_shock), which
proves the streaming projection is the model. The model liquidates each position once, at its
first crossing, `close factor` of its debt; the chain's liquidator repays half the debt above HF
0.95 (all of it below) and again whenever the position falls below 1 later. So the chain should
lie between the model at close factor 1 (the devnet model's setting: an upper bound of the
first liquidation) and at 0.5 (a lower bound, project_shock's); README ("The truth test") gives
the figures and every systematic difference the bounds below allow for."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import pytest

from monitor.config import StressShock
from monitor.devnet.cascade import CascadeResult, cascade
from monitor.devnet.devnet import Devnet, start_devnet
from monitor.devnet.truth import CascadeErrors, ProjectedCascade, compare
from monitor.risk import ContagionProjection
from monitor.risk.aave_v3 import PROTOCOL as AAVE
from monitor.risk.morpho_blue import PROTOCOL as MORPHO
from monitor.run.broker import EmbeddedBroker
from monitor.sources.ingest import manifest_sources
from monitor.wire import POSITIONS, PRICES
from tests.integration.cascade_truth import (
    DEVNET_MODEL,
    Records,
    devnet_settings,
    project_shock,
    stress_shock,
)
from tests.integration.chain_stack import Stack, stack_for
from tests.integration.stream_harness import eventually

pytestmark = pytest.mark.integration

SHOCKS: Final = (0.03, 0.06, 0.10)
ACCOUNTS, SEED = 300, 0  # the session devnet's book, on a chain of the module's own
CATCH_UP_S: Final = 120.0
POOLED: Final = ("WETH", "WBTC", "LINK")
QUIET_S: Final = 3.0  # a stress pass over this book takes milliseconds; none in 3 s: idle
# The served projection against the in-test one: the same records, so only the order the four
# partitions' releases are summed in differs (relative 1e-16 an addition, as test_contagion).
MODEL_REL: Final = 1e-9
# The stress shock's price against the chain's shocked pool spot: the oracle the worker read is
# the pool spot to 1e-8 USD, and the sale is sale_for_move's float amount in whole base units
# (measured 3e-14).
SHOCK_PRICE_REL: Final = 1e-9
# Block granularity: the keeper moves the oracles once per round, after every liquidation of
# the round sold, so the chain's path overshoots or stops short of the model's fixed point by
# about one round's sales; measured rounds move the price ≤ 2 % of start once past the first few.
GRANULARITY: Final = 0.02
# The devnet model (close factor 1) against the chain, per figure. WETH and WBTC: the model's
# whole-debt first liquidation overshoots what half-debt liquidations (re-liquidated as the
# price falls) sell, measured 3.9-9.4 points of the start price; the model also moves USDC up
# 2 % by its configured depth as liquidations buy the USDC debt they repay (the devnet's USDC
# oracle never moves), which values every USDC debt higher and liquidates more (about 1 point
# of WETH). LINK: the model seizes every collateral leg pro rata, the liquidator only the
# largest (rarely LINK), and liquidators buy the LINK debt they repay, so LINK barely moves on
# chain (+2 %) while the model sells it (27-31 points). Morpho has no close factor: its error is
# the prices' (19-29 %), the positions the model's deeper path reaches. Aave: the whole debt
# against half of it (at most 2x per position, less as the chain re-liquidates) on those
# positions too (53-109 % over).
MOVE_BOUND: Final = {"WETH": 0.10, "WBTC": 0.10, "LINK": 0.35}
LIQUIDATED_BOUND: Final = {AAVE: (0.0, 1.35), MORPHO: (-0.35, 0.35)}
BAD_DEBT_SHARE: Final = 0.01  # realized bad debt stays under 1 % of what was liquidated


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """A devnet of this module alone: each cascade mines over a thousand blocks, and once the
    chain is reverted below them anvil no longer answers calls pinned to its early blocks, which
    other modules' fresh followers make."""
    log = tmp_path_factory.mktemp("truth-devnet") / "anvil.log"
    with start_devnet(ACCOUNTS, SEED, log_path=log) as running:
        yield running


@dataclass(frozen=True)
class Ingested:
    """What the follower published before any shock, and the worker's /stress/ projection of
    each configured shock (by name) computed from all of it."""

    records: Records
    served: dict[str, dict[str, Any]]


def caught_up(stack: Stack, head: int, seeded: int) -> Records:
    """The published records once the ingester has read `head` and every seeded position, and
    the worker serves each pooled asset's depth from the chain's own reserves."""
    assert stack.ingester.block() >= head
    for asset in POOLED:
        status, body = stack.worker.get(f"/cascades/{asset}/")
        assert status == 200 and body["depth"]["source"] == "observed", asset
        assert sorted(body["depth"]["pools"][0]["reserves"]) == pytest.approx(
            sorted(stack.devnet.pools.reserves(asset)), rel=1e-12), asset
    with stack.published.lock:
        records = dict(stack.published.newest)
    assert sum(topic == POSITIONS for topic, _ in records) >= seeded
    return records


def holds(stack: Stack, records: Records) -> None:
    """The worker serves every published position at its newest version."""
    for (topic, key), value in records.items():
        if topic == POSITIONS:
            status, body = stack.worker.get(f"/positions/{key}/")
            assert status == 200 and body["version"] == value["version"], key


def stress_passes(stack: Stack) -> float:
    """How many stress passes the worker has run (monitor_recompute_pass_seconds_count)."""
    status, text = stack.worker.get_text("/metrics")
    assert status == 200
    prefix = 'monitor_recompute_pass_seconds_count{work="contagion-stress"} '
    return next((float(line[len(prefix):]) for line in text.splitlines()
                 if line.startswith(prefix)), 0.0)


def served_stress(stack: Stack, records: Records) -> dict[str, dict[str, Any]]:
    """Every configured shock's served projection, once they start from the newest published
    prices and no stress pass ran for QUIET_S: the worker already held every record (`holds`),
    so the last pass, poked by the last of them, has ended and these are its projections."""
    before = stress_passes(stack)
    status, body = stack.worker.get("/stress/")
    assert status == 200 and body["enabled"]
    served = {entry["name"]: entry["projection"] for entry in body["scenarios"]}
    versions = {key: value["version"] for (topic, key), value in records.items()
                if topic == PRICES}
    for name, projection in served.items():
        assert projection is not None and projection["price_versions"] == versions, name
    time.sleep(QUIET_S)
    assert stress_passes(stack) == before, "a stress pass ran meanwhile"
    return served


@pytest.fixture(scope="module")
def ingested(chain: Devnet, module_broker: EmbeddedBroker,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    """Everything the follower published of the devnet before any shock and the worker's
    stress projections of it (the devnet model's shocks); the stack is stopped after."""
    with stack_for(chain, module_broker, tmp_path_factory.mktemp("cascade-truth"),
                   manifest_sources(chain.manifest), config_path=DEVNET_MODEL) as stack:
        head, seeded = chain.block_number(), len(chain.accounts) + len(chain.morpho.positions)
        records = eventually(lambda: caught_up(stack, head, seeded), timeout=CATCH_UP_S)
        eventually(lambda: holds(stack, records), timeout=CATCH_UP_S)
        served = eventually(lambda: served_stress(stack, records), timeout=CATCH_UP_S)
    yield Ingested(records, served)


def errors_of(records: Records, realized: CascadeResult, shock: StressShock,
              close_factor: float) -> CascadeErrors:
    """The in-test projection at an Aave close factor against the realized cascade."""
    settings = devnet_settings({AAVE: close_factor})
    return compare(ProjectedCascade.from_contagion(project_shock(records, settings, shock)),
                   realized)


def near(served: float, modelled: float) -> bool:
    """Equal to MODEL_REL relative (absolute 1e-6 USD or price for figures near zero)."""
    return math.isclose(served, modelled, rel_tol=MODEL_REL, abs_tol=1e-6)


def assert_is_the_model(served: dict[str, Any], want: ContagionProjection) -> None:
    """The worker's streaming projection is the risk core's over the ingested records."""
    assert served["rounds"] == want.rounds
    assert served["shock_price"] == want.shock_price
    assert all(near(served["terminal_prices"][a], p) for a, p in want.terminal_prices.items())
    got, split = served["liquidated_usd_by_protocol"], want.liquidated_usd_by_protocol()
    assert got.keys() == split.keys()
    assert all(near(got[name][kind], usd) for name, kinds in split.items()
               for kind, usd in kinds.items())
    assert all(near(served["bad_debt_usd_by_protocol"].get(name, 0.0), usd)
               for name, usd in want.bad_debt_usd_by_protocol.items())


@pytest.mark.parametrize("shock", SHOCKS)
def test_the_projection_before_a_shock_matches_the_cascade_the_chain_runs(
        chain: Devnet, ingested: Ingested, shock: float) -> None:
    settings = devnet_settings()
    stress = stress_shock(settings, "WETH", shock)
    served = ingested.served[stress.name]
    snapshot = chain.snapshot()
    try:
        realized = cascade(chain, shock)
    finally:
        chain.revert(snapshot)
    configured = compare(ProjectedCascade.from_served(served), realized)
    upper = errors_of(ingested.records, realized, stress, 1.0)
    lower = errors_of(ingested.records, realized, stress, 0.5)
    print(json.dumps({"served": configured.to_dict(), "close_factor_0.5": lower.to_dict(),
                      "shock_price": {"served": served["shock_price"],
                                      "chain": realized.shocked_prices["WETH"]},
                      "served_rounds": served["rounds"]},
                     sort_keys=True))
    assert served["shock_price"] == pytest.approx(realized.shocked_prices["WETH"],
                                                  rel=SHOCK_PRICE_REL)
    assert_is_the_model(served, project_shock(ingested.records, settings, stress))
    liquidations: int = sum(realized.liquidations.values())
    assert realized.quiescence == "no-liquidatable" and liquidations > 0
    for asset in ("WETH", "WBTC"):  # the chain between the model's two close factors
        assert upper.move[asset] - GRANULARITY <= 0.0 <= lower.move[asset] + GRANULARITY, asset
    assert upper.liquidated[AAVE] >= 0.0 >= lower.liquidated[AAVE]
    for asset, bound in MOVE_BOUND.items():
        assert abs(configured.move[asset]) <= bound, (asset, configured.move[asset])
    for protocol, (low, high) in LIQUIDATED_BOUND.items():
        assert low <= configured.liquidated[protocol] <= high, protocol
    realized_bad = sum(realized.bad_debt_usd.values())
    assert realized_bad <= BAD_DEBT_SHARE * sum(realized.liquidated_usd.values())
    assert realized_bad <= configured.projected.bad_debt_usd  # the model's is an upper bound
