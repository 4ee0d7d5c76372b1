"""The one skeleton of every input agent: take each record (or each batch of records), refuse
one beyond the size limit (on a public topic), let the feature handle the rest, send what it
rejects to the dead letters, and count the outcomes, the time they took and their lag."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Literal, cast

from faust.types import ChannelT, EventT, StreamT, TopicT

from monitor.limits import Limits
from monitor.stream.context import Context
from monitor.wire import Rejected

log = logging.getLogger(__name__)
Outcome = Literal["applied", "stale", "forwarded"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("applied", "stale", "forwarded")
BUSY_S: Final = 0.05  # a batch agent that handled a batch this recently lingers for the next
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


def oversized(event: EventT[Any], limits: Limits | None) -> Rejected | None:
    """Rejected("oversized-record") for a record beyond `limits` (None: no limit)."""
    if limits is None:
        return None
    size = limits.oversized(event.message.key, event.message.value)
    if size is None:
        return None
    return Rejected("oversized-record",
                    f"{size} bytes of key and value, at most {limits.max_record_bytes}")


def input_agent(ctx: Context, topic: TopicT, *, name: str, label: str,
                handle: Handler, limits: Limits | None = None) -> None:
    """Register agent `name` on `topic`; `label` names the topic in metrics and dead letters;
    `handle` raises Rejected for a record that cannot be used; `limits` bound a public topic's
    records."""
    tally = _Tally(ctx, label)

    async def consume(stream: StreamT[bytes]) -> None:
        """Handle every record; a rejected one never stops the agent."""
        async for event in stream.events():
            started = time.perf_counter()
            try:
                too_big = oversized(event, limits)
                if too_big is not None:
                    raise too_big
                tally.count(await handle(event))
            except Rejected as rejected:
                await ctx.dead_letters.reject(label, event, rejected)
                continue
            tally.timed((event,), started)

    consume.__doc__ = f"The {name} agent."
    ctx.app.agent(topic, name=name)(consume)


def _log_failure(done: asyncio.Future[None]) -> None:
    """A batch handled off the agent's own loop failed: say so (it is redelivered unacked)."""
    if not done.cancelled() and done.exception() is not None:
        log.error("batch failed", exc_info=done.exception())


def batch_agent(ctx: Context, topic: TopicT, *, name: str, label: str, handle: BatchHandler,
                size: int, linger: float, limits: Limits | None = None) -> None:
    """Register agent `name` handling records in batches of up to `size`. After a quiet spell
    (no batch in the last BUSY_S) a record that finds nothing more waiting is handled at once;
    while records flow, a batch waits at most `linger` seconds after its first record to fill.
    Records are acked only once their batch is handled. `handle` returns each record's outcome
    or Rejected; a record beyond `limits` never reaches it."""
    tally = _Tally(ctx, label)

    async def consume(stream: StreamT[bytes]) -> None:
        """Handle every batch; rejected records go to the dead letters, the rest are counted."""
        stream.enable_acks = False  # acked in flush, after the batch is handled
        pending: list[EventT[Any]] = []
        arrived = cast(ChannelT[Any], stream.channel)
        turn = asyncio.Lock()  # batches are handled one at a time, in order
        timer: asyncio.TimerHandle | None = None
        last = -math.inf

        async def flush() -> None:
            """Handle and ack what is pending."""
            nonlocal last, timer
            async with turn:
                if timer is not None:
                    timer.cancel()
                    timer = None
                batch = pending[:]
                pending.clear()
                if not batch:
                    return
                started = time.perf_counter()
                refused = [oversized(each, limits) for each in batch]
                fitting = [each for each, no in zip(batch, refused, strict=True) if no is None]
                outcomes = iter(await handle(fitting) if fitting else ())
                counted: Tally[Outcome] = Tally()
                letters = []
                for each, refusal in zip(batch, refused, strict=True):
                    handled = next(outcomes) if refusal is None else refusal
                    if isinstance(handled, Rejected):
                        letters.append(ctx.dead_letters.reject(label, each, handled))
                    else:
                        counted[handled] += 1
                tally.count(counted)  # once per outcome and batch, not per record
                await asyncio.gather(*letters)  # sent together, each awaited till written
                tally.timed(batch, started)
                for each in batch:
                    await stream.ack(each)
                last = time.monotonic()

        def flush_later() -> None:
            """The linger ran out: handle the batch as it is."""
            asyncio.ensure_future(flush()).add_done_callback(_log_failure)

        async for event in stream.events():
            pending.append(event)
            if len(pending) >= size or (arrived.empty()
                                        and time.monotonic() - last >= BUSY_S):
                await flush()
            elif timer is None:
                timer = asyncio.get_running_loop().call_later(linger, flush_later)

    consume.__doc__ = f"The {name} agent (batched)."
    ctx.app.agent(topic, name=name)(consume)
