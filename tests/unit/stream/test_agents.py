"""The positions and prices agents under Faust's test_context (no broker): version ordering,
tombstones, and dead-lettering of bad input without stopping the agent. The placement agent
forwards into the keeper agent's test context, as the internal topic would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, cast

import faust
import orjson
import pytest
from aiokafka import ConsumerRecord

from monitor.config import load_settings
from monitor.risk import ConstantProductDepth
from monitor.stream.app import Stream, build_stream
from monitor.stream.positions.changelog import FaustWrites
from monitor.wire import POSITIONS
from tests.unit.stream.test_board import partial, poisoned


def snapshot(version: int, *, debt: float = 1000.0, closed: bool = False,
             pid: str = "aave-v3:1:0xabc") -> bytes:
    """A one-collateral lending snapshot as wire bytes."""
    return orjson.dumps({
        "position_id": pid, "protocol": "aave-v3", "account": "0xabc", "kind": "lending",
        "collateral": [{"asset": "WETH", "amount": 1.0, "liquidation_threshold": 0.8,
                        "liquidation_bonus": 0.05}],
        "debt": [{"asset": "USDC", "amount": debt}], "version": [version, 0],
        "timestamp": 1.0, "closed": closed})


@dataclass
class Pipe:
    """The features' state under the names the assertions use."""

    stream: Stream

    @property
    def position_table(self) -> Any:
        return self.stream.positions.table

    @property
    def price_table(self) -> Any:
        return self.stream.prices.replicated.table

    @property
    def books(self) -> Any:
        return self.stream.positions.books

    @property
    def metrics(self) -> Any:
        return self.stream.ctx.metrics

    @property
    def app(self) -> faust.App:
        return self.stream.app


@dataclass
class Harness:
    """A stream whose dead letters go to an in-memory channel, and a reader of it."""

    pipe: Pipe
    letters: Any

    async def dead_letter(self) -> dict[str, Any]:
        """The next dead-letter record."""
        event = await self.letters.get(timeout=5)
        return orjson.loads(event.value)  # type: ignore[no-any-return]


@pytest.fixture
async def bench() -> AsyncIterator[Harness]:
    """A fresh one-partition app finalised for test_context, no broker needed, the keeper
    agent receiving what placement forwards."""
    stream = build_stream(load_settings(environ={}).with_overrides(partitions=1))
    stream.app.finalize()
    stream.app.flow_control.resume()
    stream.ctx.dead_letters.channel = stream.app.channel()
    async with stream.app.agents["position-keeper"].test_context() as keeper:
        async def forward(partition: int, batch: bytes) -> Awaitable[None]:
            await keeper.put(batch, partition=partition)
            return asyncio.sleep(0)  # handled by the keeper as it was put
        stream.positions.forward = forward
        stream.positions.writes = FaustWrites(stream.positions.table)
        yield Harness(Pipe(stream), stream.ctx.dead_letters.channel.__aiter__())


async def place(pipe: Pipe, *values: bytes, key: bytes = b"aave-v3:1:0xabc") -> None:
    """Place producer records on `positions`, one batch each (as the consumer reads them)."""
    for offset, value in enumerate(values):
        record = ConsumerRecord(POSITIONS, 0, offset, 1_000, 0, key, value, None, len(key),
                                len(value), ())
        await pipe.stream.positions.placement.place([record])


def agent(pipe: Pipe, name: str) -> faust.types.AgentT[Any]:
    """One of the app's agents by name (Faust's agent mapping types its values as Any)."""
    return cast(faust.types.AgentT[Any], pipe.app.agents[name])


async def test_older_or_equal_version_never_overwrites(bench: Harness) -> None:
    await place(bench.pipe, snapshot(5, debt=500.0),
                snapshot(4, debt=400.0),
                snapshot(5, debt=999.0))
    stored = orjson.loads(bench.pipe.position_table["aave-v3:1:0xabc"])
    assert stored["version"] == [5, 0]
    assert stored["debt"][0]["amount"] == 500.0
    held = bench.pipe.stream.positions.find("aave-v3:1:0xabc")
    assert held is not None and held.version == (5, 0)
    assert bench.pipe.books.holders("aave-v3:1:0xabc") == [0]


async def test_closed_leaves_a_tombstone_that_older_snapshots_cannot_resurrect(
        bench: Harness) -> None:
    await place(bench.pipe, snapshot(1),
                snapshot(3, closed=True),
                snapshot(2))
    tombstone = orjson.loads(bench.pipe.position_table["aave-v3:1:0xabc"])
    assert tombstone["version"] == [3, 0] and tombstone["closed"] is True
    assert bench.pipe.stream.positions.find("aave-v3:1:0xabc") is None
    assert len(bench.pipe.books) == 0


@pytest.mark.parametrize(("value", "reason"), [
    (b"{not json", "not-json"),
    (b"[1, 2]", "not-an-object"),
    (snapshot(1).replace(b'"amount":1.0', b'"amount":-1.0'), "invalid-position"),
    (snapshot(1).replace(b'"amount":1.0', b'"amount":NaN'), "not-json"),
    (snapshot(1).replace(b'"amount":1.0', b'"amount":"many"'), "invalid-position"),
    (snapshot(1).replace(b'"kind":"lending"', b'"kind":"option"'), "invalid-position"),
    (snapshot(1, pid="other"), "key-mismatch"),
], ids=["not-json", "array", "negative", "nan", "string-amount", "unknown-kind", "wrong-key"])
async def test_bad_snapshots_are_dead_lettered_and_the_next_one_applies(
        bench: Harness, value: bytes, reason: str) -> None:
    await place(bench.pipe, value,
                snapshot(1))
    letter = await bench.dead_letter()
    assert letter["reason"] == reason
    assert letter["topic"] == "positions"
    assert letter["key"] == "aave-v3:1:0xabc"
    assert letter["value"] == value.decode()
    assert bench.pipe.metrics.registry.get_sample_value(
        "monitor_dead_letters_total", {"topic": "positions", "reason": reason}) == 1
    assert orjson.loads(bench.pipe.position_table["aave-v3:1:0xabc"])["version"] == [1, 0]


async def test_prices_are_versioned_and_validated(bench: Harness) -> None:
    def price(value: float, version: int) -> bytes:
        return orjson.dumps({"asset": "WETH", "price": value, "version": [version, 0],
                             "timestamp": 10.0, "source": "test"})

    async with agent(bench.pipe, "prices").test_context() as prices:
        await prices.put(price(3000.0, 2), key=b"WETH")
        await prices.put(price(2000.0, 1), key=b"WETH")
        await prices.put(price(-1.0, 3), key=b"WETH")
        await prices.put(b"\xff\xfe", key=b"WETH")
    assert bench.pipe.price_table["WETH"]["price"] == 3000.0
    negative, binary = await bench.dead_letter(), await bench.dead_letter()
    assert negative["reason"] == "invalid-price"
    assert (binary["reason"], binary["value_encoding"], binary["value"]) == (
        "not-json", "base64", "//4=")


async def test_an_oversized_record_is_dead_lettered_truncated_and_the_next_one_applies(
        bench: Harness) -> None:
    huge = b"\xff" * 2**20
    await place(bench.pipe, huge,
                snapshot(1))
    letter = await bench.dead_letter()
    assert (letter["reason"], letter["value_size"], letter["value_truncated"]) == (
        "oversized-record", 2**20, True)
    assert orjson.loads(bench.pipe.position_table["aave-v3:1:0xabc"])["version"] == [1, 0]


async def test_a_chain_source_block_far_beyond_its_head_is_dead_lettered(
        bench: Harness) -> None:
    def on_chain(block: int, debt: float) -> bytes:
        value = orjson.loads(snapshot(block, debt=debt))
        return orjson.dumps({**value, "chain_id": 1, "version": [block, 0]})

    await place(bench.pipe, on_chain(19_000_000, 1.0),
                on_chain(2**40, 2.0),
                on_chain(19_000_001, 3.0))
    assert (await bench.dead_letter())["reason"] == "implausible-version"
    stored = orjson.loads(bench.pipe.position_table["aave-v3:1:0xabc"])
    assert stored["version"] == [19_000_001, 0]  # not frozen by the hostile version


@pytest.mark.parametrize("poison", [
    poisoned("value_usd"),
    partial(7, 2.0, (5.0,)).to_bytes(),  # a partition that does not exist
    partial(0, 1e300, (5.0,)).to_bytes(),  # built in the future: would hold its place forever
], ids=["non-finite", "no-such-partition", "future"])
async def test_a_bad_partial_is_counted_and_the_next_good_one_heals_the_view(
        bench: Harness, poison: bytes) -> None:
    clusters = bench.pipe.stream.clusters
    async with agent(bench.pipe, "clusters").test_context() as merge:
        await merge.put(partial(0, 1.0, (1.0,)).to_bytes(), key=b"ETH")
        await merge.put(poison, key=b"ETH")
        await merge.put(partial(0, 3.0, (2.0, 3.0)).to_bytes(), key=b"ETH")
    assert (await bench.dead_letter())["reason"] == "invalid-partial"
    merged = clusters.board.merged("ETH")
    assert merged is not None and sorted(clusters.board.assets["ETH"].partials) == [0]
    assert int(merged.positions.sum()) == 2  # the newest good partial, not the poisoned one


async def test_pool_reserves_are_versioned_validated_and_announced(bench: Harness) -> None:
    def reserves(weth: float, version: int, assets: tuple[str, str] = ("WETH", "USDC")) -> bytes:
        return orjson.dumps({"pool": "0xpool", "protocol": "uniswap-v2", "assets": list(assets),
                             "reserves": [weth, 3000.0 * weth], "fee": 0.003,
                             "version": [version, 0], "timestamp": 10.0})

    announced: list[str] = []
    bench.pipe.stream.depth.changed.subscribe(announced.append)
    async with agent(bench.pipe, "depth").test_context() as depth:
        await depth.put(reserves(100.0, 2), key=b"0xpool")
        await depth.put(reserves(50.0, 1), key=b"0xpool")
        await depth.put(reserves(100.0, 3, ("WETH", "WETH")), key=b"0xpool")
    assert bench.pipe.stream.depth.replicated.table["0xpool"]["reserves"] == [100.0, 300_000.0]
    assert announced == ["WETH"]
    model, provenance = bench.pipe.stream.depth.depth_for("WETH")
    assert model == ConstantProductDepth(100.0, 0.003)
    assert provenance.source == "observed" and provenance.pools[0].reserves[0] == 100.0
    assert (await bench.dead_letter())["reason"] == "invalid-depth"


async def test_a_partial_published_here_is_merged_at_once_and_stored_when_read_back(
        bench: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    clusters = bench.pipe.stream.clusters
    monkeypatch.setattr(clusters, "owns", lambda asset: True)
    changed: list[str] = []
    clusters.changed.subscribe(changed.append)
    sent = partial(0, 1.0, (1.0, 2.0))
    bench.pipe.stream.positions.published.announce(sent)
    merged = clusters.board.merged("ETH")
    assert merged is not None and int(merged.positions.sum()) == 2 and changed == ["ETH"]
    assert "ETH#0" not in clusters.table  # durable only once read back from the topic
    async with agent(bench.pipe, "clusters").test_context() as merge:
        await merge.put(sent.to_bytes(), key=b"ETH")
        await merge.put(partial(0, 0.5, (7.0,)).to_bytes(), key=b"ETH")  # older: stale
    assert clusters.table["ETH#0"] == sent.to_bytes() and changed == ["ETH"]
    monkeypatch.setattr(clusters, "owns", lambda asset: False)  # another worker's asset
    bench.pipe.stream.positions.published.announce(partial(0, 2.0, (5.0,)))
    assert clusters.board.holds(sent) and changed == ["ETH"]
