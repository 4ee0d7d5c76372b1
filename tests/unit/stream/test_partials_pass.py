"""The partials pass: every dirty (partition, asset) sent once, and the budget charged with the
time the pass held the loop, not the time its sends waited for the producer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from monitor.stream.app import Stream
from monitor.stream.partials import ClusterPartial

SEND_WAIT = 0.3  # seconds each send waits, as under a backfill the producer's full buffer does


async def test_a_pass_returns_the_time_it_held_the_loop_without_its_sends_waits(
        market_stream: Stream, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[ClusterPartial] = []

    async def slow_send(*, key: bytes, value: bytes, partition: int) -> Any:
        await asyncio.sleep(SEND_WAIT)
        sent.append(ClusterPartial.from_bytes(value))

    positions = market_stream.positions
    monkeypatch.setattr(positions.partials, "send", slow_send)
    began = time.perf_counter()
    held = await positions._publish()
    waited = time.perf_counter() - began
    assert sorted(p.asset for p in sent) == sorted(market_stream.positions.books.partitions[0]
                                                   .book.assets())
    assert held is not None and waited >= SEND_WAIT * len(sent) > held
    assert list(positions.books.take_dirty()) == []  # all published
