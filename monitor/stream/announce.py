"""Announcements between features: a feature that learns something (a price moved, an asset's
clusters changed) tells the features that subscribed, once, instead of each polling for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Announcer(Generic[T]):
    """Synchronous fan-out of one kind of news; subscribers must be quick (mark and poke)."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[T], None]] = []

    def subscribe(self, callback: Callable[[T], None]) -> None:
        """Call `callback` with every later announcement."""
        self._subscribers.append(callback)

    def announce(self, news: T) -> None:
        """Tell every subscriber."""
        for callback in self._subscribers:
            callback(news)
