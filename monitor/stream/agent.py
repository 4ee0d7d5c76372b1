"""The one skeleton of every input agent: take each record (or each batch of records), let the
feature handle it, send what it rejects to the dead letters, and count the outcomes, the time
they took and their lag."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Literal, cast

from faust.types import ChannelT, EventT, StreamT, TopicT

from monitor.stream.context import Context
from monitor.wire import Rejected

Outcome = Literal["applied", "stale", "forwarded"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("applied", "stale", "forwarded")
BUSY_S: Final = 0.05  # a batch agent that ended a batch this recently lingers for the next
# one record's outcome, or the outcomes of the many snapshots one batch record carries
Handled = Outcome | Mapping[Outcome, int]
Handler = Callable[[EventT[Any]], Awaitable[Handled]]
BatchHandler = Callable[[Sequence[EventT[Any]]], Awaitable[Sequence[Outcome | Rejected]]]


class _Tally:
    """The agent's metrics, with their labels bound once (no lookups per event)."""

    def __init__(self, ctx: Context, label: str) -> None:
        self.processed = {o: ctx.metrics.processed.labels(label, o) for o in OUTCOMES}
        self.latency = ctx.metrics.latency.labels(label)
        self.lag = ctx.metrics.lag.labels(label)
        ctx.dead_letters.expect(label)

    def count(self, handled: Handled) -> None:
        """Count one record's outcome, or a batch record's outcomes."""
        if isinstance(handled, str):
            self.processed[handled].inc()
        else:
            for outcome, n in handled.items():
                self.processed[outcome].inc(n)

    def timed(self, events: Sequence[EventT[Any]], started: float) -> None:
        """Time per record and the records' lag behind the broker."""
        now, per = time.time(), (time.perf_counter() - started) / max(len(events), 1)
        for event in events:
            self.latency.observe(per)
            self.lag.observe(max(0.0, now - event.message.timestamp))


def input_agent(ctx: Context, topic: TopicT, *, name: str, label: str,
                handle: Handler) -> None:
    """Register agent `name` on `topic`; `label` names the topic in metrics and dead letters;
    `handle` raises Rejected for a record that cannot be used."""
    tally = _Tally(ctx, label)

    async def consume(stream: StreamT[bytes]) -> None:
        """Handle every record; a rejected one never stops the agent."""
        async for event in stream.events():
            started = time.perf_counter()
            try:
                tally.count(await handle(event))
            except Rejected as rejected:
                await ctx.dead_letters.reject(label, event, rejected)
                continue
            tally.timed((event,), started)

    consume.__doc__ = f"The {name} agent."
    ctx.app.agent(topic, name=name)(consume)


def batch_agent(ctx: Context, topic: TopicT, *, name: str, label: str, handle: BatchHandler,
                size: int, linger: float) -> None:
    """Register agent `name` handling records in batches of up to `size`: whatever has
    arrived when the agent gets to it. While records keep coming (the last batch ended less
    than BUSY_S ago) it lingers up to `linger` seconds for more, so a flow travels in large
    batches; the first record after a quiet spell is handled at once. Records are acked only
    once their batch is handled. `handle` returns each record's outcome or Rejected."""
    tally = _Tally(ctx, label)

    async def consume(stream: StreamT[bytes]) -> None:
        """Handle every batch; rejected records go to the dead letters, the rest are counted."""
        stream.enable_acks = False  # acked below, after the batch is handled
        pending: list[EventT[Any]] = []
        arrived = cast(ChannelT[Any], stream.channel)
        last = -math.inf
        async for event in stream.events():
            pending.append(event)
            if len(pending) == 1 and time.monotonic() - last < BUSY_S:
                await asyncio.sleep(linger)
            if len(pending) < size and not arrived.empty():
                continue
            batch, pending = pending, []
            started = time.perf_counter()
            for each, handled in zip(batch, await handle(batch), strict=True):
                if isinstance(handled, Rejected):
                    await ctx.dead_letters.reject(label, each, handled)
                else:
                    tally.count(handled)
            tally.timed(batch, started)
            for each in batch:
                await stream.ack(each)
            last = time.monotonic()

    consume.__doc__ = f"The {name} agent (batched)."
    ctx.app.agent(topic, name=name)(consume)
