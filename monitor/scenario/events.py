"""Scenario events: a generated market and its price path as topic records, and JSON-lines I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from monitor.scenario.market import BASE_BLOCK, generate_market
from monitor.scenario.paths import PATHS, price_path
from monitor.wire import POSITIONS, PRICES, PriceUpdate


class ScenarioError(ValueError):
    """A scenario name or file that cannot be turned into events."""


@dataclass(frozen=True, slots=True)
class Event:
    """One record to publish; `step` orders the price path (0 = the market's opening state)."""

    topic: str
    key: str
    value: bytes  # the wire record, as published
    step: int = 0


def market_events(name: str, positions: int, seed: int, steps: int, start_time: float,
                  step_seconds: float) -> Iterator[Event]:
    """Opening prices, every position snapshot, then one price update per asset per step."""
    if name not in PATHS:
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(sorted(PATHS))}")
    try:
        market = generate_market(positions, seed)
        path = price_path(name, market.prices, steps, seed)
    except ValueError as exc:
        raise ScenarioError(str(exc)) from exc
    source = f"scenario:{name}"
    for step, prices in enumerate(path):
        timestamp = start_time + step * step_seconds
        for n, (asset, price) in enumerate(sorted(prices.items())):
            update = PriceUpdate(asset, price, (BASE_BLOCK + step, n), timestamp, source)
            yield Event(PRICES, asset, update.to_bytes(), step)
        if step == 0:
            for snap in market.snapshots():
                snap["timestamp"] = start_time
                yield Event(POSITIONS, snap["position_id"], orjson.dumps(snap), 0)


def read_events(path: Path) -> Iterator[Event]:
    """Events from JSON lines {"topic", "key", "value"[, "step"]}; a string value is sent as is."""
    with path.open("rb") as lines:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ScenarioError(f"{path}:{lineno}: not JSON ({exc})") from exc
            yield _event(record, f"{path}:{lineno}")


def _event(record: object, where: str) -> Event:
    """Validate one decoded JSON-lines record into an Event."""
    if not isinstance(record, dict):
        raise ScenarioError(f"{where}: expected an object with topic, key and value")
    topic, key, step = record.get("topic"), record.get("key"), record.get("step", 0)
    if not isinstance(topic, str) or not topic:
        raise ScenarioError(f"{where}: 'topic' must be a non-empty string")
    if not isinstance(key, str):
        raise ScenarioError(f"{where}: 'key' must be a string")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ScenarioError(f"{where}: 'step' must be a non-negative integer")
    if "value" not in record:
        raise ScenarioError(f"{where}: 'value' is missing")
    value = record["value"]
    raw = value.encode() if isinstance(value, str) else orjson.dumps(value)
    return Event(topic, key, raw, step)


def write_events(path: Path, events: Iterable[Event]) -> int:
    """Write events as JSON lines (values embedded as JSON); returns how many were written."""
    count = 0
    with path.open("wb") as out:
        for event in events:
            line = {"topic": event.topic, "key": event.key, "step": event.step,
                    "value": orjson.Fragment(event.value)}
            out.write(orjson.dumps(line) + b"\n")
            count += 1
    return count
