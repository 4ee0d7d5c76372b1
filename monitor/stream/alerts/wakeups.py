"""Wake-ups at deadlines (a hold ending, a repeat due, an oracle's heartbeat passing): one
event-loop timer at the earliest deadline, re-armed as deadlines come and go; no polling."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable


class Wakeups:
    """Calls `callback(key)` once the wall-clock deadline set for `key` has passed."""

    def __init__(self, callback: Callable[[str], None]) -> None:
        self.callback = callback
        self._due: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._timer: asyncio.TimerHandle | None = None

    def at(self, key: str, deadline: float | None) -> None:
        """Wake for `key` at `deadline` (epoch seconds), replacing its earlier one; None
        cancels it."""
        if deadline is None:
            self._due.pop(key, None)
            return
        self._due[key] = deadline
        heapq.heappush(self._heap, (deadline, key))
        self._arm()

    def clear(self) -> None:
        """Forget every deadline."""
        self._due.clear()
        self._heap.clear()

    def _arm(self) -> None:
        """Set the one timer at the earliest live deadline."""
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._heap:
            loop = asyncio.get_running_loop()
            delay = max(self._heap[0][0] - time.time(), 0.0)
            self._timer = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        """Call back every key whose deadline has passed, then re-arm."""
        self._timer = None
        now, due = time.time(), []
        while self._heap and self._heap[0][0] <= now:
            deadline, key = heapq.heappop(self._heap)
            if self._due.get(key) == deadline:
                del self._due[key]
                due.append(key)
        for key in due:  # after the pops: a callback setting a past deadline waits a turn
            self.callback(key)
        self._arm()
