"""The one skeleton of every input agent: take each record, refuse one beyond the size limit
(on a public topic), let the feature handle the rest, send what it rejects to the dead letters,
and count the outcomes, the time they took and their lag."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Literal

from faust.types import EventT, StreamT, TopicT

from monitor.limits import Limits
from monitor.stream.context import Context
from monitor.wire import Rejected

Outcome = Literal["applied", "stale", "forwarded"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("applied", "stale", "forwarded")
# one record's outcome, or the outcomes of the many snapshots one batch record carries
Handled = Outcome | Mapping[Outcome, int]
Handler = Callable[[EventT[Any]], Awaitable[Handled]]


class Counted:
    """An input's metrics, with their labels bound once (no lookups per event)."""

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

    def timed(self, timestamps: Sequence[float], started: float) -> None:
        """Time per record and the records' lag behind the broker (their timestamps, in s)."""
        now, per = time.time(), (time.perf_counter() - started) / max(len(timestamps), 1)
        for timestamp in timestamps:
            self.latency.observe(per)
            self.lag.observe(max(0.0, now - timestamp))


def oversized(key: bytes | None, value: bytes | None, limits: Limits | None) -> Rejected | None:
    """Rejected("oversized-record") for a record beyond `limits` (None: no limit)."""
    if limits is None:
        return None
    size = limits.oversized(key, value)
    if size is None:
        return None
    return Rejected("oversized-record",
                    f"{size} bytes of key and value, at most {limits.max_record_bytes}")


def input_agent(ctx: Context, topic: TopicT, *, name: str, label: str,
                handle: Handler, limits: Limits | None = None) -> None:
    """Register agent `name` on `topic`; `label` names the topic in metrics and dead letters;
    `handle` raises Rejected for a record that cannot be used; `limits` bound a public topic's
    records."""
    tally = Counted(ctx, label)

    async def consume(stream: StreamT[bytes]) -> None:
        """Handle every record; a rejected one never stops the agent."""
        async for event in stream.events():
            started = time.perf_counter()
            try:
                too_big = oversized(event.message.key, event.message.value, limits)
                if too_big is not None:
                    raise too_big
                tally.count(await handle(event))
            except Rejected as rejected:
                await ctx.dead_letters.reject(label, event, rejected)
                continue
            tally.timed((event.message.timestamp,), started)

    consume.__doc__ = f"The {name} agent."
    ctx.app.agent(topic, name=name)(consume)
