"""Event-driven recomputation with coalescing: a change asks for a pass, a pass starts at once
when none is running, and every change that arrives while one runs is folded into the next.

Work stays bounded without a fixed wait: passes never overlap, and after a pass that held the
loop t seconds the next one starts no sooner than t·(1/share − 1) later, so derived work takes
at most `share` of the event loop however fast changes arrive. A pass that awaits others (the
contagion's rounds wait on other workers and yield between steps) returns the time it held the
loop itself; otherwise its wall time counts. Changes users wait for (a price move)
are urgent and use the larger `urgent_share`: idle, a pass takes a millisecond or two, so the
answer is fresh as soon as the pass that follows the change ends; under a backfill, position
changes alone get the smaller share and leave the rest to ingestion.

A pass's own time is not all it costs: what it sends is encoded, written and merged downstream
after it ends. A coalescer given `min_gap` therefore also waits at least that long between
passes of non-urgent changes (a backfill republishes at most 1/min_gap times a second); the
first change after a quiet spell still starts a pass at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from monitor.stream.metrics import Metrics

log = logging.getLogger(__name__)


def idle_after(seconds: float, share: float) -> float:
    """How long to stay idle after a pass of `seconds` to use at most `share` of the time."""
    return seconds * (1.0 / share - 1.0)


class Coalescer:
    """Runs `work` once per burst of changes, never concurrently with itself."""

    def __init__(self, name: str, work: Callable[[], Awaitable[float | None]], metrics: Metrics,
                 share: float, urgent_share: float | None = None,
                 min_gap: float = 0.0) -> None:
        for value in (share, urgent_share or share):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"share: {value!r} outside (0, 1]")
        self.name = name
        self.work = work
        self.share = share
        self.urgent_share = max(urgent_share or share, share)
        self.min_gap = min_gap
        self._seconds = metrics.passes.labels(name)
        self._failures = metrics.pass_failures.labels(name)
        self._wanted = asyncio.Event()
        self._urgent = asyncio.Event()

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
            self._wanted.clear()
            self._urgent.clear()
            took = await self.run_once()
            urgent_gap = idle_after(took, self.urgent_share)
            await asyncio.sleep(urgent_gap)
            rest = max(idle_after(took, self.share), self.min_gap) - urgent_gap
            if rest > 0 and not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), rest)
