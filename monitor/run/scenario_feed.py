"""`monitor run --feed scenario`: a generated market replayed into the broker, its prices then
walked along the chosen path."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Final

from monitor.console import say
from monitor.run.feeds import FEED
from monitor.scenario.replay import Progress, publish_scenario
from monitor.wire import bootstrap_servers

PROGRESS_EVERY_S: Final = 5.0


class Throttled:
    """Prints replay progress at most every few seconds."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, state: Progress) -> None:
        """Report `state` if the last report is old enough."""
        if time.monotonic() - self.last >= PROGRESS_EVERY_S:
            self.last = time.monotonic()
            say(FEED, state.line().removeprefix("replay: "))


async def scenario_feed(args: argparse.Namespace, url: str, stop: asyncio.Event) -> None:
    """Replay a generated market, then walk its prices along the chosen path."""
    say(FEED, f"scenario {args.scenario}: {args.positions} positions (seed {args.seed}), "
        f"{args.steps} price steps every {args.interval}s")
    state = await publish_scenario(bootstrap_servers(url), args.scenario, args.positions,
                                   args.seed, args.steps, args.interval, args.rate or None,
                                   Throttled(), stop)
    say(FEED, f"scenario done: {state.line().removeprefix('replay: ')}")
