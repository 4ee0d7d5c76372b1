"""Trailing-edge throttle for expensive per-key recomputation (cascade projections).

Rule: a key is recomputed at most once per `interval` seconds, and always once after its last
change (the trailing edge), so a burst of cluster or price changes costs one projection per
interval yet the published projection always reflects the final state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TrailingThrottle:
    """Tracks changed keys and says which are due for recomputation now."""

    interval: float
    clock: Callable[[], float] = time.monotonic
    _changed: set[str] = field(default_factory=set)
    _last_run: dict[str, float] = field(default_factory=dict)

    def mark(self, key: str) -> None:
        """Record that `key`'s inputs changed."""
        self._changed.add(key)

    def due(self) -> list[str]:
        """Changed keys whose last run is at least `interval` old; they count as run now."""
        now = self.clock()
        ready = sorted(k for k in self._changed
                       if now - self._last_run.get(k, float("-inf")) >= self.interval)
        for key in ready:
            self._changed.discard(key)
            self._last_run[key] = now
        return ready

    def forget(self, key: str) -> None:
        """Drop a key this worker no longer owns."""
        self._changed.discard(key)
        self._last_run.pop(key, None)
