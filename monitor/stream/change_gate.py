"""When a pass that costs in proportion to the book is due again while only positions change.

Rerunning such a pass after every change makes a backfill's cost per event grow with the book;
rerunning it on a fixed timer does too (a pass per `age` costs N/age per second). The gate asks
for a pass once `share` of the book changed since the last one began (amortised O(1/share) per
change however large the book grows), once changes paused for `quiet` seconds (a trickle of
changes, or the end of a backfill, is answered at once), and at the latest `age` seconds after
the first change (a steady stream that never pauses still gets an answer). A change whose size
is unknown (positions another worker holds, seen through merged clusters) counts as none
towards the share but is answered by the pause and the age like any other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class ChangeGate:
    """Counts changes and calls `due` when a pass over a book of `size()` positions is due."""

    def __init__(self, share: float, quiet: float, age: float, size: Callable[[], int],
                 due: Callable[[], None]) -> None:
        self.share, self.quiet, self.age = share, quiet, age
        self.size, self.due = size, due
        self.pending = 0  # changes since the last pass began
        self.waiting = False  # some change (of any size, even unknown) since the last pass began
        self._first = self._last = 0.0  # time.monotonic() of the first and last of them
        self._timer: asyncio.TimerHandle | None = None

    def changed(self, count: int) -> None:
        """`count` positions changed, 0 when how many is unknown (cheap: no timer is made per
        change)."""
        now = time.monotonic()
        if not self.waiting:
            self._first = now
        self.waiting = True
        self.pending += count
        self._last = now
        if count and self.pending >= self.share * self.size():
            self._fire()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._wake() - now, self._check)

    def began(self) -> None:
        """A pass began: what changed before it is in it."""
        self.pending, self.waiting = 0, False
        self._cancel()

    def _check(self) -> None:
        """The timer: due if changes paused or the first is old, else look again later."""
        self._timer = None
        if not self.waiting:
            return
        now, wake = time.monotonic(), self._wake()
        if now >= wake:
            self._fire()
        else:
            self._timer = asyncio.get_running_loop().call_later(wake - now, self._check)

    def _wake(self) -> float:
        """When the pending changes are due at the latest: a pause, or the first one's age."""
        return min(self._last + self.quiet, self._first + self.age)

    def _fire(self) -> None:
        """Ask for the pass."""
        self._cancel()
        self.due()

    def _cancel(self) -> None:
        """Drop the pending timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
