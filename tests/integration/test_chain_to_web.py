"""Chain to web, every part real: Aave V3 on Anvil → the ingester → Tansu → a worker → HTTP.

What a user reads at GET /positions/{id}/ must be what the pool itself says: the health factor
of every seeded account equals getUserAccountData at the block the ingester read (1e-9
relative); the served WETH liquidation price p* is where the pool starts liquidating (at
p*·(1 + 1e-4) liquidationCall reverts with Aave's error 45, at p*·(1 − 1e-4) it succeeds); and a
LiquidationCall is followed into the web view, which then matches the chain again.

One devnet (the session's), broker, worker and ingester serve the whole module; each test puts
the chain back with evm_snapshot / evm_revert. The ingester follows the head in a thread and
remembers the newest version it published per key, so "caught up" is exact, not a sleep.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
import pytest

from monitor.devnet.devnet import AccountData, Devnet, LiquidationFailed
from monitor.run.broker import EmbeddedBroker
from monitor.sources.evm.adapter import SourceConfig
from monitor.sources.evm.follower import FollowConfig, Follower
from monitor.sources.evm.publisher import KafkaSink
from monitor.sources.evm.rpc import Rpc
from monitor.sources.ingest import manifest_source
from monitor.sources.registry import open_adapters
from monitor.wire import POSITIONS, PRICES
from tests.integration.stream_harness import (
    Worker,
    eventually,
    ready,
    running,
    start_worker,
    worker_settings,
)

pytestmark = pytest.mark.integration

WAD: Final = 10**18
BASE_UNIT: Final = 1e8  # getUserAccountData's base currency: USD with 8 decimals
HF_REL_TOL: Final = 1e-9
PRICE_STEP: Final = 1e-4  # how far either side of the served liquidation price the pool is tried
SAMPLE_SIZE: Final = 10
CATCH_UP_S: Final = 60.0
NOT_LIQUIDATABLE: Final = "45"  # Aave V3 Errors.HEALTH_FACTOR_NOT_BELOW_THRESHOLD


class IngesterDied(RuntimeError):
    """The ingester thread ended with an error (raised at once, not retried by `eventually`)."""


class Published:
    """The ingester's real Kafka sink, remembering the newest version sent per (topic, key):
    what the worker must end up serving, since it keeps the highest version of each key."""

    def __init__(self, sink: KafkaSink) -> None:
        self.sink = sink
        self.lock = threading.Lock()
        self.newest: dict[tuple[str, str], dict[str, Any]] = {}

    async def send(self, topic: str, key: str, value: dict[str, Any]) -> None:
        """Send to the broker and remember the value if its version is the newest."""
        await self.sink.send(topic, key, value)
        with self.lock:
            old = self.newest.get((topic, key))
            if old is None or value["version"] > old["version"]:
                self.newest[(topic, key)] = orjson.loads(orjson.dumps(value))

    async def flush(self) -> None:
        """Wait for delivery."""
        await self.sink.flush()

    def get(self, topic: str, key: str) -> dict[str, Any] | None:
        """The newest value published on `topic` under `key`."""
        with self.lock:
            return self.newest.get((topic, key))


@dataclass
class FollowingIngester:
    """The Aave V3 ingester following the devnet's head (no confirmations) in its own thread."""

    rpc_url: str
    bootstrap: str
    sources: list[SourceConfig]
    config: FollowConfig
    published: Published | None = None
    ingester: Follower | None = None
    error: BaseException | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _started: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> FollowingIngester:
        """Run the ingester in a thread; returns once it is connected."""
        self._thread = threading.Thread(target=self._run, name="ingester", daemon=True)
        self._thread.start()
        if not self._started.wait(30):
            raise IngesterDied("the ingester did not connect within 30s")
        self.check()
        return self

    def _run(self) -> None:
        """The thread: an event loop running the ingester until stopped."""
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced to the test by check()
            self.error = exc
        finally:
            self._started.set()

    async def _main(self) -> None:
        """Connect to the node and the broker and follow the chain."""
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with Rpc(self.rpc_url) as rpc, KafkaSink(self.bootstrap) as sink:
            self.published = Published(sink)
            adapters = await open_adapters(rpc, self.sources)
            self.ingester = Follower(rpc, self.published, adapters, self.config)
            self._started.set()
            await self.ingester.run(self._stop)

    def check(self) -> None:
        """Fail the test with the ingester's own error if it died."""
        if self.error is not None:
            raise IngesterDied(f"the ingester died: {self.error!r}") from self.error
        if self._thread is None or not self._thread.is_alive():
            raise IngesterDied("the ingester stopped")

    def block(self) -> int:
        """The last block the ingester has fully published."""
        self.check()
        assert self.ingester is not None and self.ingester.cp is not None
        return self.ingester.cp.block

    def stop(self) -> None:
        """Stop following and wait for the thread."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)


@dataclass
class Stack:
    """The running pipeline the tests drive and read."""

    devnet: Devnet
    ingester: FollowingIngester
    worker: Worker
    highest_orphan: int = 0  # highest head a test reverted away from

    @property
    def published(self) -> Published:
        """What the ingester has published."""
        assert self.ingester.published is not None
        return self.ingester.published

    def position_id(self, account: str) -> str:
        """The wire position id of a devnet account."""
        return f"aave-v3:{self.devnet.manifest['chain_id']}:{account.lower()}"

    def served(self, account: str) -> dict[str, Any]:
        """GET /positions/{id}/ of an account (200 expected)."""
        status, body = self.worker.get(f"/positions/{self.position_id(account)}/")
        assert status == 200, f"{account}: HTTP {status} {body}"
        assert isinstance(body, dict)
        return body

    def current(self, account: str) -> dict[str, Any]:
        """The served position once the ingester has read the chain's head and the worker
        serves exactly the newest snapshot and prices the ingester published for it."""
        head = self.devnet.block_number()

        def check() -> dict[str, Any]:
            assert self.ingester.block() >= head, "the ingester is behind the head"
            newest = self.published.get(POSITIONS, self.position_id(account))
            assert newest is not None, f"{account}: nothing published"
            status, body = self.worker.get(f"/positions/{self.position_id(account)}/")
            assert status == 200, f"{account}: HTTP {status}"
            assert body["version"] == newest["version"], "the worker is behind the ingester"
            for asset, price in body["prices"].items():
                update = self.published.get(PRICES, asset)
                assert update is not None and price == update["price"], f"{asset} price lags"
            assert not body["missing_prices"]
            return dict(body)
        return eventually(check, timeout=CATCH_UP_S)

    def revert(self, snapshot: str) -> None:
        """evm_revert, remembering how high the abandoned branch went."""
        self.highest_orphan = max(self.highest_orphan, self.devnet.block_number())
        self.devnet.revert(snapshot)


def relative(actual: float, expected: float) -> float:
    """|actual − expected| / |expected| (0 when both are 0)."""
    return abs(actual - expected) / abs(expected) if expected else abs(actual)


def chain_agreement(stack: Stack, bodies: dict[str, dict[str, Any]]) -> float:
    """Assert that each served position equals getUserAccountData at the block the ingester
    read it (health factor, collateral and debt USD to 1e-9); the largest HF error."""
    blocks = {int(body["version"][0]) for body in bodies.values()}
    chain: dict[int, dict[str, AccountData]] = {b: stack.devnet.account_data(b) for b in blocks}
    oracle = {(a, b): stack.devnet.price(a, b) for b in blocks for a in stack.devnet.assets}
    worst = 0.0
    for account, body in bodies.items():
        block = int(body["version"][0])
        for asset, price in body["prices"].items():
            assert price == oracle[(asset, block)], \
                f"{account}: served {asset} price {price} is not the oracle's at block {block}"
        data = chain[block][account]
        assert data.total_debt_base > 0, f"{account} has no debt on chain"
        expected_hf = data.health_factor / WAD
        error = relative(body["health_factor"], expected_hf)
        worst = max(worst, error)
        assert error <= HF_REL_TOL, (f"{account} at block {block}: served HF "
                                     f"{body['health_factor']!r}, chain {expected_hf!r}")
        assert math.isclose(body["collateral_usd"], data.total_collateral_base / BASE_UNIT,
                            rel_tol=HF_REL_TOL), f"{account}: collateral_usd"
        assert math.isclose(body["debt_usd"], data.total_debt_base / BASE_UNIT,
                            rel_tol=HF_REL_TOL), f"{account}: debt_usd"
    return worst


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One Tansu broker for the module (overrides the per-test fixture)."""
    with EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log") as running_:
        yield running_


@pytest.fixture(scope="module")
def chain(devnet: Devnet) -> Iterator[Devnet]:
    """The session devnet, put back as this module found it."""
    snapshot = devnet.snapshot()
    yield devnet
    devnet.revert(snapshot)


@pytest.fixture(scope="module")
def stack(chain: Devnet, broker: EmbeddedBroker,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A ready worker, then the ingester following the devnet from its deploy block."""
    base: Path = tmp_path_factory.mktemp("chain-to-web")
    worker = start_worker(worker_settings(broker.url, base / "data"), base / "worker.log")
    with running([worker]):
        ready(worker)
        manifest = chain.manifest
        config = FollowConfig(from_block=int(manifest["deploy_block"]), confirmations=0,
                              poll_interval=0.05)
        ingester = FollowingIngester(chain.rpc_url, broker.bootstrap,
                                     [manifest_source(manifest)], config).start()
        try:
            yield Stack(chain, ingester, worker)
        finally:
            ingester.stop()


@pytest.fixture(scope="module")
def baseline(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every seeded account as served once the pipeline caught up with the seeded chain."""
    return {account: stack.current(account) for account in stack.devnet.accounts}


@pytest.fixture
def restored(stack: Stack) -> Iterator[Stack]:
    """The stack, with the chain reverted after the test."""
    snapshot = stack.devnet.snapshot()
    try:
        yield stack
    finally:
        stack.revert(snapshot)


def weth_sample(stack: Stack, baseline: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(account, debt asset to repay) for up to SAMPLE_SIZE accounts with WETH collateral and
    only non-WETH debt whose served WETH level is long, spread over position shapes (one or
    several collateral and debt legs) in a fixed order."""
    shapes: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for account in sorted(baseline):
        snap = stack.published.get(POSITIONS, stack.position_id(account))
        assert snap is not None
        collateral = {leg["asset"] for leg in snap["collateral"]}
        debts = sorted(snap["debt"], key=lambda leg: -float(leg["amount"]) *
                       baseline[account]["prices"][leg["asset"]])
        level = baseline[account]["liquidation_prices"].get("WETH")
        if ("WETH" in collateral and debts and all(d["asset"] != "WETH" for d in debts)
                and level is not None and level["side"] == "long"):
            shapes.setdefault((len(collateral), len(debts)), []).append(
                (account, debts[0]["asset"]))
    sample: list[tuple[str, str]] = []
    while len(sample) < SAMPLE_SIZE and any(shapes.values()):
        for group in shapes.values():
            if group and len(sample) < SAMPLE_SIZE:
                sample.append(group.pop(0))
    return sample


def test_served_health_factor_of_every_seeded_account_equals_the_pool(
        stack: Stack, baseline: dict[str, dict[str, Any]]) -> None:
    assert len(baseline) == len(stack.devnet.accounts) >= 100
    worst = chain_agreement(stack, baseline)
    print(f"\nhealth factor: {len(baseline)} accounts, max relative error {worst:.3g}")


def test_pool_liquidates_exactly_below_the_served_weth_liquidation_price(
        stack: Stack, baseline: dict[str, dict[str, Any]]) -> None:
    sample = weth_sample(stack, baseline)
    assert len(sample) == SAMPLE_SIZE, f"only {len(sample)} WETH-collateral accounts"
    devnet = stack.devnet
    others = {a: devnet.price(a) for a in devnet.assets if a != "WETH"}
    for account, debt_asset in sample:
        p_star = baseline[account]["liquidation_prices"]["WETH"]["price"]
        snapshot = devnet.snapshot()
        try:
            devnet.set_price("WETH", p_star * (1 + PRICE_STEP))
            with pytest.raises(LiquidationFailed) as refused:
                devnet.liquidate(account, "WETH", debt_asset)
            assert refused.value.reason == NOT_LIQUIDATABLE, \
                f"{account} at p*(1+1e-4): {refused.value}"
            devnet.set_price("WETH", p_star * (1 - PRICE_STEP))
            receipt = devnet.liquidate(account, "WETH", debt_asset)
            assert receipt["status"] == 1
            assert {a: devnet.price(a) for a in others} == others
        finally:
            stack.revert(snapshot)
    print(f"\nliquidation boundary: {len(sample)} accounts checked at p*(1 ± {PRICE_STEP:g})")


def test_a_liquidation_is_ingested_and_served_as_the_chain_has_it(
        restored: Stack, baseline: dict[str, dict[str, Any]]) -> None:
    stack, devnet = restored, restored.devnet
    account, debt_asset = weth_sample(stack, baseline)[0]
    p_star = baseline[account]["liquidation_prices"]["WETH"]["price"]
    devnet.set_price("WETH", p_star * (1 - PRICE_STEP))
    receipt = devnet.liquidate(account, "WETH", debt_asset)
    liquidated_at = int(receipt["blockNumber"])
    if devnet.block_number() <= stack.highest_orphan:  # outgrow branches earlier tests left
        devnet.mine(stack.highest_orphan - devnet.block_number() + 1)

    served = stack.current(account)
    assert served["version"][0] >= liquidated_at, "the LiquidationCall was not ingested"
    assert served["debt_usd"] < baseline[account]["debt_usd"]
    worst = chain_agreement(stack, {account: served})
    print(f"\nafter liquidation: {account} served HF {served['health_factor']}, "
          f"relative error {worst:.3g}")
