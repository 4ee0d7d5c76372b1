"""The one skeleton of every input agent: take each record, let the feature handle it, send
what it rejects to the dead letters, and count the outcome, the time it took and its lag."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from faust.types import EventT, StreamT, TopicT

from monitor.stream.context import Context
from monitor.wire import Rejected

Outcome = Literal["applied", "stale", "forwarded"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("applied", "stale", "forwarded")
Handler = Callable[[EventT[Any]], Awaitable[Outcome]]


def input_agent(ctx: Context, topic: TopicT, *, name: str, label: str,
                handle: Handler) -> None:
    """Register agent `name` on `topic`; `label` names the topic in metrics and dead letters;
    `handle` raises Rejected for a record that cannot be used."""
    processed = {outcome: ctx.metrics.processed.labels(label, outcome) for outcome in OUTCOMES}
    latency = ctx.metrics.latency.labels(label)
    lag = ctx.metrics.lag.labels(label)

    async def consume(stream: StreamT[bytes]) -> None:
        """Handle every record; a rejected one never stops the agent."""
        async for event in stream.events():
            started = time.perf_counter()
            try:
                outcome = await handle(event)
            except Rejected as rejected:
                await ctx.dead_letters.reject(label, event, rejected)
                continue
            processed[outcome].inc()
            latency.observe(time.perf_counter() - started)
            lag.observe(max(0.0, time.time() - event.message.timestamp))

    consume.__doc__ = f"The {name} agent."
    ctx.app.agent(topic, name=name)(consume)
