"""Joint contagion in the stream with two workers on Tansu: the projections served under
`contagion` at /cascades/{asset}/ and at /stress/ equal monitor.risk.project_contagion over the
union of every partition's positions (to float summation order: 1e-9 relative asserted), and
the metrics report them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Settings, load_settings
from monitor.risk import Position, from_snapshot, project_contagion
from monitor.run.broker import EmbeddedBroker
from monitor.stream.contagion.scenarios import Scenario, contagion_model
from monitor.stream.context import partition_of
from monitor.stream.depth.observed import ObservedDepth
from tests.integration.market import price
from tests.integration.stream_harness import (
    Worker,
    eventually,
    produce,
    ready,
    running,
    start_worker,
    worker_settings,
)
from tests.unit import contagion_market

pytestmark = pytest.mark.integration
N_POSITIONS = 400
SEED = 7
REL = 1e-9


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[list[dict[str, Any]], dict[str, float], Path]:
    """The snapshots, their prices and the model file."""
    snapshots, prices = contagion_market.snapshots(N_POSITIONS, SEED)
    positions = [from_snapshot(s) for s in snapshots]
    path = tmp_path_factory.mktemp("model") / "contagion.toml"
    return snapshots, prices, contagion_market.model_file(
        path, contagion_market.model(positions, prices))


@contextmanager
def two_workers(base: Path, model: Path) -> Iterator[tuple[str, list[Worker]]]:
    """A broker (its bootstrap address) and two workers of one group, ready, the partitions
    split between them."""
    with EmbeddedBroker(log_path=base / "tansu.log") as broker:
        pair = [start_worker(worker_settings(broker.url, base / name, config_path=model),
                             base / f"{name}.log") for name in ("a", "b")]
        with running(pair):
            for worker in pair:
                ready(worker)

            def split() -> None:
                owned = [set(w.get("/health/")[1]["partitions"]) for w in pair]
                assert owned[0] and owned[1] and owned[0] | owned[1] == {0, 1, 2, 3}
            eventually(split, timeout=90)
            yield broker.bootstrap, pair


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory,
            book: tuple[list[dict[str, Any]], dict[str, float], Path]) -> Iterator[list[Worker]]:
    """Two workers holding the whole book."""
    snapshots, prices, model = book
    with two_workers(tmp_path_factory.mktemp("contagion"), model) as (bootstrap, pair):
        produce(bootstrap, [("prices", a, price(a, p)) for a, p in prices.items()])
        produce(bootstrap, [("positions", s["position_id"], s) for s in snapshots])
        yield pair


def near(a: float, b: float) -> bool:
    """Equal to REL relative (absolute 1e-6 for sums near zero)."""
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-6)


def assert_served(body: dict[str, Any] | None, positions: list[Position],
                  prices: dict[str, float], settings: Settings, scenario: Scenario) -> None:
    """The served projection is project_contagion's over every position."""
    assert body is not None
    assert body["partitions"] == 4 and body["shock_price"] == scenario.shock_price
    unobserved = ObservedDepth(settings.assets, settings.cascade.depth_quotes)  # no pools
    model = contagion_model(scenario, settings, prices, unobserved.model_for)
    want = project_contagion(positions, scenario.asset, prices, scenario.shock_price, model)
    assert body["rounds"] == want.rounds
    assert near(body["liquidated_usd"], want.liquidated_usd)
    got_split, want_split = body["liquidated_usd_by_protocol"], want.liquidated_usd_by_protocol()
    assert got_split.keys() == want_split.keys()
    for protocol, split in want_split.items():
        assert all(near(got_split[protocol][k], usd) for k, usd in split.items()), protocol
    assert body["bad_debt_usd_by_protocol"].keys() == want.bad_debt_usd_by_protocol.keys()
    assert all(near(body["bad_debt_usd_by_protocol"][p], usd)
               for p, usd in want.bad_debt_usd_by_protocol.items())
    assert all(near(body["terminal_prices"][a], p) for a, p in want.terminal_prices.items()
               if a in prices)


def stress_served(worker: Worker, positions: list[Position], prices: dict[str, float],
                  settings: Settings) -> None:
    """The worker serves every stress shock as project_contagion has it over `positions`."""
    status, body = worker.get("/stress/")
    assert status == 200 and body["count"] == 3
    for entry in body["scenarios"]:
        shock = next(s for s in settings.contagion.stress if s.name == entry["name"])
        scenario = Scenario(f"stress:{shock.name}", "stress", shock.name, shock.asset,
                            prices[shock.asset] * (1 + shock.move), shock.betas)
        assert_served(entry["projection"], positions, prices, settings, scenario)


def test_served_contagion_equals_the_projection_over_every_partition(
        workers: list[Worker],
        book: tuple[list[dict[str, Any]], dict[str, float], Path]) -> None:
    snapshots, prices, path = book
    positions = [from_snapshot(s) for s in snapshots]
    settings = load_settings(path, environ={})
    for worker in workers:
        eventually(partial(stress_served, worker, positions, prices, settings), timeout=120)

    def trigger_served(worker: Worker) -> None:
        status, body = worker.get("/cascades/WETH/")
        assert status == 200 and body["down"]["trigger_price"] is not None
        joint = body["contagion"]["down"]
        assert joint is not None and joint["shock_price"] == body["down"]["trigger_price"]
        scenario = Scenario("WETH:down", "trigger", "down", "WETH", joint["shock_price"])
        assert_served(joint, positions, prices, settings, scenario)
    for worker in workers:
        eventually(partial(trigger_served, worker), timeout=120)

    scraped = "".join(worker.get_text("/metrics")[1] for worker in workers).splitlines()
    for name in ("monitor_contagion_terminal_move_ratio", "monitor_contagion_liquidated_usd",
                 "monitor_contagion_bad_debt_usd"):
        assert any(line.startswith(name + "{") and 'scenario="stress:eth-20"' in line
                   for line in scraped), name
    assert any(line.startswith("monitor_contagion_liquidated_usd{") and 'kind="induced"' in line
               and 'scenario="WETH:down"' in line for line in scraped)


def test_positions_only_another_worker_holds_rerun_the_coordinators_stress_shocks(
        tmp_path: Path, book: tuple[list[dict[str, Any]], dict[str, float], Path]) -> None:
    """The coordinator of WETH's stress shocks sees positions of the other worker's partitions
    only through the clusters they change: produced after it served the shocks over its own,
    they still reach what it serves."""
    snapshots, prices, path = book
    settings = load_settings(path, environ={})
    with two_workers(tmp_path, path) as (bootstrap, pair):
        coordinator = next(w for w in pair if partition_of("WETH", 4)
                           in w.get("/health/")[1]["partitions"])
        held = set(coordinator.get("/health/")[1]["partitions"])
        here = [s for s in snapshots if partition_of(s["position_id"], 4) in held]
        elsewhere = [s for s in snapshots if s not in here]
        assert here and elsewhere
        produce(bootstrap, [("prices", a, price(a, p)) for a, p in prices.items()])
        produce(bootstrap, [("positions", s["position_id"], s) for s in here])
        eventually(partial(stress_served, coordinator, [from_snapshot(s) for s in here],
                           prices, settings), timeout=120)
        produce(bootstrap, [("positions", s["position_id"], s) for s in elsewhere])
        eventually(partial(stress_served, coordinator,
                           [from_snapshot(s) for s in snapshots], prices, settings),
                   timeout=60)
