"""What an ingest published, as a consumer keeps it: an in-memory sink, the records of a real
broker's topics, the final state per key (also of a fresh reference ingest), and a snapshot
without what differs between reads."""

from __future__ import annotations

from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from monitor.sources.evm.adapter import SourceConfig
from monitor.sources.evm.follower import FollowConfig, Follower, Stats
from monitor.sources.evm.rpc import Rpc
from monitor.sources.registry import open_adapters

Record = tuple[str, str, dict[str, Any]]


class Collect:
    """An in-memory sink for the reference ingest the published state is compared with."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    async def send(self, topic: str, key: str, value: dict[str, Any]) -> None:
        """Keep the record as the broker would carry it (JSON round trip)."""
        self.records.append((topic, key, orjson.loads(orjson.dumps(value))))

    async def flush(self) -> None:
        """Nothing queued."""


async def read_topics(bootstrap: str, expected: int) -> list[Record]:
    """Every record on positions and prices as (topic, key, value), in offset order."""
    consumer = AIOKafkaConsumer("positions", "prices", bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list[Record] = []
    try:
        while len(records) < expected:
            batch = await consumer.getmany(timeout_ms=5000)
            if not batch:
                break
            for msgs in batch.values():
                records.extend((m.topic, m.key.decode(), orjson.loads(m.value)) for m in msgs)
    finally:
        await consumer.stop()
    return records


def final_state(records: list[Record]) -> dict[tuple[str, str], dict[str, Any]]:
    """What a consumer keeps: per (topic, key) the value with the highest version."""
    state: dict[tuple[str, str], dict[str, Any]] = {}
    for topic, key, value in records:
        old = state.get((topic, key))
        if old is None or value["version"] >= old["version"]:
            state[(topic, key)] = value
    return state


async def fresh_state(rpc_url: str, sources: list[SourceConfig], config: FollowConfig
                      ) -> dict[tuple[str, str], dict[str, Any]]:
    """Final state of a fresh, single-pass ingest of `sources` as the chain is now."""
    sink = Collect()
    async with Rpc(rpc_url) as rpc:
        await Follower(rpc, sink, await open_adapters(rpc, sources), config).run()
    return final_state(sink.records)


def count(stats: Stats) -> int:
    """Records an ingest published."""
    return stats.snapshots + stats.prices


def strip(snap: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without what legitimately differs between reads at different blocks."""
    out = {k: v for k, v in snap.items() if k not in ("version", "timestamp")}
    for side in ("collateral", "debt"):
        out[side] = [{k: v for k, v in leg.items() if k != "amount"} for leg in snap[side]]
    return out
