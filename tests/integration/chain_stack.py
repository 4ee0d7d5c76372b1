"""The chain-to-web pipeline the chain tests drive: an ingester following the devnet's head in a
thread (remembering the newest version it published per key, so "caught up" is exact, not a
sleep), a worker serving HTTP, and the devnet they read."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from monitor.devnet.devnet import Devnet
from monitor.run.broker import EmbeddedBroker
from monitor.sources.evm.adapter import SourceConfig
from monitor.sources.evm.follower import FollowConfig, Follower
from monitor.sources.evm.publisher import KafkaSink
from monitor.sources.evm.rpc import Rpc
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

CATCH_UP_S: Final = 60.0


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

    def latest(self, topic: str) -> dict[str, dict[str, Any]]:
        """The newest value published under every key of `topic`."""
        with self.lock:
            return {key: value for (t, key), value in self.newest.items() if t == topic}


@dataclass
class FollowingIngester:
    """The ingester following the devnet's head (no confirmations) in its own thread."""

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
        """The served Aave position of a devnet account, caught up (see current_position)."""
        return self.current_position(self.position_id(account))

    def current_position(self, position_id: str) -> dict[str, Any]:
        """The served position once the ingester has read the chain's head and the worker
        serves exactly the newest snapshot and prices (its market's own price included) the
        ingester published for it."""
        head = self.devnet.block_number()

        def check() -> dict[str, Any]:
            assert self.ingester.block() >= head, "the ingester is behind the head"
            newest = self.published.get(POSITIONS, position_id)
            assert newest is not None, f"{position_id}: nothing published"
            status, body = self.worker.get(f"/positions/{position_id}/")
            assert status == 200, f"{position_id}: HTTP {status}"
            assert body["version"] == newest["version"], "the worker is behind the ingester"
            for asset, price in body["prices"].items():
                update = self.published.get(PRICES, asset)
                assert update is not None and price == update["price"], f"{asset} price lags"
            if "market_price" in newest:
                key = newest["market_price"]
                update = self.published.get(PRICES, key)
                assert update is not None and self.served_price(key) == update["price"], \
                    f"{key} price lags"
            assert not body["missing_prices"]
            return dict(body)
        return eventually(check, timeout=CATCH_UP_S)

    def settled(self) -> None:
        """Wait until the ingester has read the chain's head and the worker serves the newest
        snapshot of every position it published (a closed one as gone), so that what is served
        next is computed from the whole book."""
        head = self.devnet.block_number()

        def check() -> None:
            assert self.ingester.block() >= head, "the ingester is behind the head"
            for position_id, newest in self.published.latest(POSITIONS).items():
                status, body = self.worker.get(f"/positions/{position_id}/")
                if newest.get("closed") is True:
                    assert status == 404, f"{position_id}: closed, yet HTTP {status}"
                else:
                    assert status == 200, f"{position_id}: HTTP {status}"
                    assert body["version"] == newest["version"], f"{position_id} lags"
        eventually(check, timeout=CATCH_UP_S)

    def served_price(self, key: str) -> float | None:
        """The price the worker holds under `key` (its monitor_price_usd gauge)."""
        status, text = self.worker.get_text("/metrics")
        assert status == 200
        for line in text.splitlines():
            if line.startswith(f'monitor_price_usd{{asset="{key}"}} '):
                return float(line.rsplit(" ", 1)[1])
        return None

    def outgrow_orphans(self) -> None:
        """Mine past the highest branch a test reverted away from, so the ingester's re-reads
        of what it touched are due."""
        if self.devnet.block_number() <= self.highest_orphan:
            self.devnet.mine(self.highest_orphan - self.devnet.block_number() + 1)

    def revert(self, snapshot: str) -> None:
        """evm_revert, remembering how high the abandoned branch went."""
        self.highest_orphan = max(self.highest_orphan, self.devnet.block_number())
        self.devnet.revert(snapshot)


def relative(actual: float, expected: float) -> float:
    """|actual − expected| / |expected| (0 when both are 0)."""
    return abs(actual - expected) / abs(expected) if expected else abs(actual)



@contextmanager
def stack_for(chain: Devnet, broker: EmbeddedBroker, base: Path,
              sources: Sequence[SourceConfig], **settings: Any) -> Iterator[Stack]:
    """A ready worker (its settings changed by `settings`), then the ingester following
    `sources` on the devnet from its deploy block."""
    worker = start_worker(worker_settings(broker.url, base / "data", **settings),
                          base / "worker.log")
    with running([worker]):
        ready(worker)
        config = FollowConfig(from_block=int(chain.manifest["deploy_block"]), confirmations=0,
                              poll_interval=0.05)
        ingester = FollowingIngester(chain.rpc_url, broker.bootstrap, list(sources),
                                     config).start()
        try:
            yield Stack(chain, ingester, worker)
        finally:
            ingester.stop()
