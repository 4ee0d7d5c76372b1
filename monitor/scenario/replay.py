"""`monitor replay`: publish a scenario (generated or from a JSON-lines file) to Kafka."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from monitor.argtypes import non_negative_float, positive_int
from monitor.scenario.events import (
    Event,
    ScenarioError,
    market_events,
    read_events,
    write_events,
)
from monitor.scenario.paths import PATHS
from monitor.wire import bootstrap_servers

DEFAULT_POSITIONS: Final = 10_000
DEFAULT_STEPS: Final = 120
DEFAULT_INTERVAL: Final = 1.0
SEND_ATTEMPTS: Final = 5  # deliveries of a record refused with a retriable error
RETRY_S: Final = 0.2  # the wait before a retry, times its number
FLUSH_EVERY: Final = 5_000  # await delivery reports in chunks to bound memory and surface errors
PROGRESS_EVERY_S: Final = 1.0


@dataclass
class Progress:
    """Counts of what has been published, for progress lines and the caller's summary."""

    started: float = field(default_factory=time.monotonic)
    by_topic: Counter[str] = field(default_factory=Counter)
    step: int = 0

    @property
    def total(self) -> int:
        """Events published so far."""
        return sum(self.by_topic.values())

    def line(self) -> str:
        """A one-line human summary: totals per topic, current step and rate."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        topics = ", ".join(f"{t} {n}" for t, n in sorted(self.by_topic.items()))
        return f"replay: {self.total} events ({topics}), step {self.step}, " \
               f"{self.total / elapsed:,.0f} ev/s"


ProgressCallback = Callable[[Progress], None]


def scenario_source(scenario: str, positions: int = DEFAULT_POSITIONS, seed: int = 0,
                    steps: int = DEFAULT_STEPS, step_seconds: float = DEFAULT_INTERVAL,
                    ) -> Iterator[Event]:
    """Events of a named scenario, or of a JSON-lines file when `scenario` is not a name."""
    if scenario in PATHS:
        return market_events(scenario, positions, seed, steps, time.time(), step_seconds)
    path = Path(scenario)
    if not path.is_file():
        raise ScenarioError(
            f"{scenario!r} is neither a scenario ({', '.join(sorted(PATHS))}) nor a file")
    return read_events(path)


async def publish_events(bootstrap: str, events: Iterable[Event], rate: float | None = None,
                         interval: float = 0.0, progress: ProgressCallback | None = None,
                         stop: asyncio.Event | None = None) -> Progress:
    """Publish events in order, pausing `interval` s between steps and capping at `rate` ev/s."""
    state = Progress()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_batch_size=256 * 1024, acks=1)
    await producer.start()
    try:
        pending: list[tuple[Event, asyncio.Future[object]]] = []
        last_report = time.monotonic()
        for event in events:
            if stop is not None and stop.is_set():
                break
            if event.step != state.step:
                await _drain(producer, pending)
                state.step = event.step
                if interval > 0:
                    await _sleep_or_stop(interval, stop)
            pending.append((event, await _send(producer, event)))
            state.by_topic[event.topic] += 1
            if len(pending) >= FLUSH_EVERY:
                await _drain(producer, pending)
            if rate:
                ahead = state.total / rate - (time.monotonic() - state.started)
                if ahead > 0.01:
                    await asyncio.sleep(ahead)
            if progress is not None and time.monotonic() - last_report >= PROGRESS_EVERY_S:
                last_report = time.monotonic()
                progress(state)
        await _drain(producer, pending)
    finally:
        await producer.stop()
    return state


async def _send(producer: AIOKafkaProducer, event: Event) -> asyncio.Future[object]:
    """Hand one event to the producer; the future of its delivery."""
    delivery: asyncio.Future[object] = await producer.send(event.topic, event.value,
                                                           key=event.key.encode())
    return delivery


async def _drain(producer: AIOKafkaProducer,
                 pending: list[tuple[Event, asyncio.Future[object]]]) -> None:
    """Wait for the delivery of every pending record; those refused with a retriable error
    (a topic created a moment ago whose leader the broker does not know yet) are sent again
    a few times, then the error is raised. A record sent twice is harmless: the newer
    version wins."""
    for attempt in range(SEND_ATTEMPTS):
        results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        failed = [(event, error) for (event, _), error in zip(pending, results, strict=True)
                  if isinstance(error, BaseException)]
        pending.clear()
        if not failed:
            return
        fatal = next((e for _, e in failed if not getattr(e, "retriable", False)), None)
        if fatal is not None or attempt == SEND_ATTEMPTS - 1:
            raise fatal or failed[0][1]
        await asyncio.sleep(RETRY_S * (attempt + 1))
        pending.extend([(event, await _send(producer, event)) for event, _ in failed])


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    """Sleep, returning early when `stop` is set."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return


async def publish_scenario(bootstrap: str, scenario: str, positions: int = DEFAULT_POSITIONS,
                           seed: int = 0, steps: int = DEFAULT_STEPS,
                           interval: float = DEFAULT_INTERVAL, rate: float | None = None,
                           progress: ProgressCallback | None = None,
                           stop: asyncio.Event | None = None) -> Progress:
    """Generate (or read) a scenario and publish it: what `monitor run` and `replay` call."""
    events = scenario_source(scenario, positions, seed, steps, interval)
    return await publish_events(bootstrap, events, rate, interval, progress, stop)


def _print_progress(state: Progress) -> None:
    """Progress to stderr so stdout stays clean for pipes."""
    print(state.line(), file=sys.stderr, flush=True)


def add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `replay` and `run --feed scenario`."""
    parser.add_argument("--positions", type=positive_int, default=DEFAULT_POSITIONS,
                        help=f"positions to generate, 1..1000000 (default {DEFAULT_POSITIONS})")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--steps", type=positive_int, default=DEFAULT_STEPS,
                        help=f"price path steps (default {DEFAULT_STEPS})")
    parser.add_argument("--interval", type=non_negative_float, default=DEFAULT_INTERVAL,
                        help=f"seconds between price steps (default {DEFAULT_INTERVAL})")
    parser.add_argument("--rate", type=non_negative_float, default=0.0,
                        help="cap on events per second, 0 for no cap (default 0)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `monitor replay`."""
    parser = subparsers.add_parser(
        "replay", help="publish a scenario (market + price path) to Kafka",
        description="Publish position snapshots to 'positions' and a price path to 'prices'. "
                    f"SCENARIO is one of {', '.join(sorted(PATHS))} or a JSON-lines file of "
                    '{"topic", "key", "value"[, "step"]} records.')
    parser.add_argument("scenario", metavar="SCENARIO")
    parser.add_argument("--broker", help="broker URL, e.g. kafka://127.0.0.1:9092")
    parser.add_argument("--dump", type=Path, metavar="PATH",
                        help="write the scenario to PATH as JSON lines instead of publishing")
    add_scenario_arguments(parser)
    parser.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    """Entry point of `monitor replay`."""
    try:
        events = scenario_source(args.scenario, args.positions, args.seed, args.steps,
                                 args.interval)
        if args.dump is not None:
            count = write_events(args.dump, events)
            print(f"wrote {count} events to {args.dump}")
            return 0
        if not args.broker:
            print("monitor replay: --broker is required unless --dump is given", file=sys.stderr)
            return 2
        state = asyncio.run(publish_events(bootstrap_servers(args.broker), events,
                                           args.rate or None, args.interval, _print_progress))
    except (ScenarioError, OSError) as exc:
        print(f"monitor replay: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        print(f"monitor replay: broker {args.broker}: {exc}", file=sys.stderr)
        return 1
    print(state.line())
    return 0
