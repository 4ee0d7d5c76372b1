"""Placement without a broker: a batch of producer records is forwarded to the partitions of the
app's hash (one send per target partition), rejected records are dead-lettered, outcomes are
counted once per batch, and a revocation waits for the batch in flight."""

from __future__ import annotations

import asyncio

import orjson
from aiokafka import ConsumerRecord

from monitor.config import load_settings
from monitor.stream.app import build_stream
from monitor.stream.context import partition_of
from monitor.stream.positions.placement import _Handover
from monitor.wire import POSITIONS
from tests.unit.stream.test_agents import snapshot


def record(offset: int, key: bytes, value: bytes) -> ConsumerRecord[bytes, bytes]:
    """A `positions` record as the consumer returns it."""
    return ConsumerRecord(POSITIONS, 1, offset, 1_000, 0, key, value, None, len(key),
                          len(value), ())


async def test_a_batch_is_forwarded_by_the_apps_hash_and_rejects_are_dead_lettered() -> None:
    stream = build_stream(load_settings(environ={}).with_overrides(partitions=4))
    stream.app.finalize()
    stream.app.flow_control.resume()
    stream.ctx.dead_letters.channel = stream.app.channel()
    letters = stream.ctx.dead_letters.channel.__aiter__()  # subscribed before anything is sent
    forwarded: list[dict[int, list[bytes]]] = []

    async def forward(placed: dict[int, list[bytes]]) -> None:
        forwarded.append(placed)

    placement = stream.positions.placement
    placement.forward = forward
    ids = [f"aave-v3:1:0x{i:03x}" for i in range(6)]
    records = [record(i, pid.encode(), snapshot(1, pid=pid)) for i, pid in enumerate(ids)]
    await placement.place([*records[:3], record(3, b"k", b"{nope"), *records[3:]])
    expected: dict[int, list[bytes]] = {}
    for pid in ids:
        expected.setdefault(partition_of(pid, 4), []).append(snapshot(1, pid=pid))
    assert forwarded == [expected]
    letter = orjson.loads((await letters.get(timeout=5)).value)
    assert (letter["reason"], letter["partition"], letter["offset"]) == ("not-json", 1, 3)
    sample = stream.ctx.metrics.registry.get_sample_value
    assert sample("monitor_events_processed_total",
                  {"topic": POSITIONS, "outcome": "forwarded"}) == 6
    assert sample("monitor_events_processed_total",
                  {"topic": POSITIONS, "outcome": "rejected"}) == 1


async def test_a_revocation_waits_for_the_batch_in_flight() -> None:
    turn = asyncio.Lock()
    await turn.acquire()
    revoked = asyncio.ensure_future(_Handover(turn).on_partitions_revoked([]))
    await asyncio.sleep(0.01)
    assert not revoked.done()
    turn.release()
    await asyncio.wait_for(revoked, 1)
