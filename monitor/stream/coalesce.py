"""Event-driven recomputation with coalescing: a change asks for a pass, a pass starts at once
when none is running, and every change that arrives while one runs is folded into the next.

Work stays bounded without a fixed wait: passes of one coalescer never overlap, and every
coalescer of a worker draws on one Budget: after a pass that held the loop t seconds, no pass
of changes nobody waits on (a backfill's position changes, in any feature) starts sooner than
t·(1/share − 1) later, so all such derived work together takes at most `share` of the event
loop however fast changes arrive and however many features derive from them. A pass that
awaits others (the contagion's rounds wait on other workers and yield between steps) returns
the time it held the loop itself; otherwise its wall time counts. Changes users wait for (a
price move) are urgent: they never wait for the budget (their time still counts against it)
and are spaced only by their coalescer's larger `urgent_share`, so idle, the answer is fresh
as soon as the pass that follows the change ends.

A pass's own time is not all it costs: what it sends is encoded, written and merged downstream
after it ends. A coalescer given `min_gap` therefore also waits at least that long between
passes of non-urgent changes (a backfill republishes at most 1/min_gap times a second); the
first change after a quiet spell still starts a pass at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable

from monitor.stream.metrics import Metrics

log = logging.getLogger(__name__)


def idle_after(seconds: float, share: float) -> float:
    """How long to stay idle after a pass of `seconds` to use at most `share` of the time."""
    return seconds * (1.0 / share - 1.0)


def _fraction(share: float) -> float:
    """`share` when it is a fraction of the loop a pass may take, else ValueError."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share: {share!r} outside (0, 1]")
    return share


class Budget:
    """The share of the event loop that background passes of all coalescers take together."""

    def __init__(self, share: float) -> None:
        self.share = _fraction(share)
        self.ready_at = 0.0  # time.monotonic() before which no background pass starts

    def spend(self, seconds: float) -> None:
        """A pass held the loop `seconds`: push the next background pass out to keep the share."""
        self.ready_at = max(self.ready_at, time.monotonic()) + idle_after(seconds, self.share)

    async def turn(self) -> None:
        """Return once a background pass, or the next round of a long one, may run."""
        while (wait := self.ready_at - time.monotonic()) > 0:
            await asyncio.sleep(wait)


class Coalescer:
    """Runs `work` once per burst of changes, never concurrently with itself."""

    def __init__(self, name: str, work: Callable[[], Awaitable[float | None]], metrics: Metrics,
                 budget: Budget, urgent_share: float | None = None,
                 min_gap: float = 0.0) -> None:
        self.name = name
        self.work = work
        self.budget = budget
        self.urgent_share = max(_fraction(urgent_share or budget.share), budget.share)
        self.min_gap = min_gap
        self._seconds = metrics.passes.labels(name)
        self._failures = metrics.pass_failures.labels(name)
        self._wanted = asyncio.Event()
        self._urgent = asyncio.Event()
        self._ended = -math.inf  # time.monotonic() when the last pass ended

    def poke(self, urgent: bool = False) -> None:
        """Ask for a pass (cheap; any number of pokes before the pass starts cost one)."""
        self._wanted.set()
        if urgent:
            self._urgent.set()

    async def run_once(self) -> float:
        """One pass now; the seconds it held the loop. A failing pass is logged and counted,
        never propagated."""
        started = time.perf_counter()
        held: float | None = None
        try:
            held = await self.work()
        except Exception:
            self._failures.inc()
            log.exception("%s: pass failed; the next change retries it", self.name)
        took = time.perf_counter() - started
        self._seconds.observe(took)
        return took if held is None else min(held, took)

    async def run(self) -> None:
        """Serve pokes until cancelled (a Faust app task)."""
        while True:
            await self._wanted.wait()
            await self._turn()
            self._wanted.clear()
            self._urgent.clear()
            took = await self.run_once()
            self._ended = time.monotonic()
            self.budget.spend(took)
            await asyncio.sleep(idle_after(took, self.urgent_share))

    async def _turn(self) -> None:
        """Wait until the budget and min_gap let a background pass start, or an urgent poke
        comes (other coalescers' passes may push the budget out while this one waits)."""
        while not self._urgent.is_set():
            wait = max(self.budget.ready_at, self._ended + self.min_gap) - time.monotonic()
            if wait <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._urgent.wait(), wait)
