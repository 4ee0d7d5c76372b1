"""Event-driven recomputation with coalescing: a change asks for a pass, a pass starts at once
when none is running, and every change that arrives while one runs is folded into the next.

Work stays bounded without a fixed wait: passes never overlap, and after a pass that took t
seconds the next one starts no sooner than t·(1/share − 1) later, so derived work takes at most
`share` of the event loop however fast changes arrive. Idle, a pass takes a millisecond or
two, so the gap is too: the answer is fresh as soon as the pass that follows the change ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from monitor.stream.metrics import Metrics

log = logging.getLogger(__name__)
DEFAULT_SHARE: Final = 0.5


class Coalescer:
    """Runs `work` once per burst of changes, never concurrently with itself."""

    def __init__(self, name: str, work: Callable[[], Awaitable[None]], metrics: Metrics,
                 share: float = DEFAULT_SHARE) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share: {share!r} outside (0, 1]")
        self.name = name
        self.work = work
        self.share = share
        self._seconds = metrics.passes.labels(name)
        self._failures = metrics.pass_failures.labels(name)
        self._wanted = asyncio.Event()

    def poke(self) -> None:
        """Ask for a pass (cheap; any number of pokes before the pass starts cost one)."""
        self._wanted.set()

    async def run_once(self) -> None:
        """One pass now; a failing pass is logged and counted, never propagated."""
        started = time.perf_counter()
        try:
            await self.work()
        except Exception:
            self._failures.inc()
            log.exception("%s: pass failed; the next change retries it", self.name)
        finally:
            self._seconds.observe(time.perf_counter() - started)

    async def run(self) -> None:
        """Serve pokes until cancelled (a Faust app task)."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            started = time.perf_counter()
            await self.run_once()
            gap = (time.perf_counter() - started) * (1.0 / self.share - 1.0)
            if gap > 0:
                await asyncio.sleep(gap)
