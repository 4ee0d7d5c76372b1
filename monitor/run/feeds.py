"""What every live feed of `monitor run` shares: how it fails to start, how it runs beside the
worker, and its progress lines."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from monitor.console import say

FEED: Final = "monitor run: feed"  # who the progress lines of a feed come from
FEED_STOP_TIMEOUT_S: Final = 10.0


class FeedError(RuntimeError):
    """A feed could not start; the message says what to install or change."""


@dataclass
class RunningFeed:
    """A feed in flight; `failed` resolves with the exception that ended it, if one does."""

    failed: asyncio.Future[BaseException]


@contextlib.asynccontextmanager
async def running(feed: Coroutine[Any, Any, None],
                  stop: asyncio.Event) -> AsyncIterator[RunningFeed]:
    """Run `feed` as a task for the with-block; on exit set `stop` and give it a few seconds
    to finish."""
    loop = asyncio.get_running_loop()
    failed: asyncio.Future[BaseException] = loop.create_future()
    task = loop.create_task(feed)

    def surface(done: asyncio.Task[None]) -> None:
        """Hand a crash of the feed to whoever waits on `failed`."""
        error = None if done.cancelled() else done.exception()
        if error is not None and not failed.done():
            failed.set_result(error)

    task.add_done_callback(surface)
    try:
        yield RunningFeed(failed)
    finally:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), FEED_STOP_TIMEOUT_S)
        except TimeoutError:
            task.cancel()
        except Exception as exc:  # already surfaced through `failed`; keep shutting down
            say(FEED, f"stopped after an error: {exc}")
