"""The live feeds `monitor run` drives: a replayed synthetic market or the Aave devnet."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from monitor.scenario.replay import Progress, bootstrap_of, publish_scenario

PROGRESS_EVERY_S: Final = 5.0
FEED_STOP_TIMEOUT_S: Final = 10.0


class FeedError(RuntimeError):
    """A feed could not start; the message says what to install or change."""


@dataclass
class RunningFeed:
    """A feed in flight; `failed` resolves with the exception that ended it, if one does."""

    failed: asyncio.Future[BaseException]


def say(message: str) -> None:
    """A feed progress line."""
    print(f"monitor run: feed: {message}", flush=True)


class Throttled:
    """Prints replay progress at most every few seconds."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, state: Progress) -> None:
        """Report `state` if the last report is old enough."""
        if time.monotonic() - self.last >= PROGRESS_EVERY_S:
            self.last = time.monotonic()
            say(state.line().removeprefix("replay: "))


async def scenario_feed(args: argparse.Namespace, url: str, stop: asyncio.Event) -> None:
    """Replay a generated market, then walk its prices along the chosen path."""
    say(f"scenario {args.scenario}: {args.positions} positions (seed {args.seed}), "
        f"{args.steps} price steps every {args.interval}s")
    state = await publish_scenario(bootstrap_of(url), args.scenario, args.positions, args.seed,
                                   args.steps, args.interval, args.rate or None, Throttled(),
                                   stop)
    say(f"scenario done: {state.line().removeprefix('replay: ')}")


@contextlib.asynccontextmanager
async def start_feed(args: argparse.Namespace, url: str, stop: asyncio.Event,
                     log_dir: Path) -> AsyncIterator[RunningFeed]:
    """Run the feed `args.feed` names for the with-block; FeedError if it cannot start."""
    coro: Coroutine[Any, Any, None]
    if args.feed == "scenario":
        coro = scenario_feed(args, url, stop)
    else:
        from monitor.devnet_feed import devnet_feed, open_devnet

        devnet = await open_devnet(args.accounts, args.seed, log_dir)  # fails fast, clearly
        coro = devnet_feed(devnet, args, url, stop)
    loop = asyncio.get_running_loop()
    failed: asyncio.Future[BaseException] = loop.create_future()
    task = loop.create_task(coro)

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
            say(f"stopped after an error: {exc}")
