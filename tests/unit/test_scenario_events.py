"""Scenario events and their JSON-lines form: what `monitor replay --dump` writes and reads."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from monitor.cli import main
from monitor.scenario.events import (
    Event,
    ScenarioError,
    market_events,
    read_events,
    write_events,
)


def test_market_events_open_with_prices_then_positions_then_steps() -> None:
    events = list(market_events("random-walk", 50, 3, 4, 1000.0, 2.0))
    prices = [e for e in events if e.topic == "prices"]
    positions = [e for e in events if e.topic == "positions"]
    assert len(positions) == 50
    assert len(prices) % 4 == 0
    assert events[0].topic == "prices"
    assert [e.step for e in events] == sorted(e.step for e in events)
    first = orjson.loads(positions[0].value)
    assert positions[0].key == first["position_id"]
    assert first["timestamp"] == 1000.0
    last = orjson.loads(prices[-1].value)
    assert last["timestamp"] == 1006.0
    assert last["source"] == "scenario:random-walk"
    assert set(last) == {"asset", "price", "source", "version", "timestamp"}


def test_dump_and_read_round_trip(tmp_path: Path) -> None:
    events = list(market_events("crash-2020-03-12", 20, 1, 3, 0.0, 1.0))
    path = tmp_path / "scenario.jsonl"
    assert write_events(path, events) == len(events)
    assert list(read_events(path)) == events


def test_a_string_value_is_sent_verbatim_for_dead_letter_drills(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"topic": "positions", "key": "x", "value": "not json"}\n\n')
    assert list(read_events(path)) == [Event("positions", "x", b"not json", 0)]


@pytest.mark.parametrize("line, message", [
    ("{", "not JSON"),
    ("[]", "expected an object"),
    ('{"key": "k", "value": 1}', "'topic'"),
    ('{"topic": "prices", "key": 3, "value": 1}', "'key'"),
    ('{"topic": "prices", "key": "k"}', "'value' is missing"),
    ('{"topic": "prices", "key": "k", "value": 1, "step": -1}', "'step'"),
])
def test_malformed_lines_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"topic": "prices", "key": "k", "value": {}}\n' + line + "\n")
    with pytest.raises(ScenarioError, match=f"bad.jsonl:2: .*{message}"):
        list(read_events(path))


def test_cli_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dump.jsonl"
    argv = ["replay", "crash-2021-05-19", "--positions", "30", "--steps", "5", "--dump", str(path)]
    assert main(argv) == 0
    lines = path.read_bytes().splitlines()
    assert f"wrote {len(lines)} events" in capsys.readouterr().out
    assert sum(orjson.loads(line)["topic"] == "positions" for line in lines) == 30


def test_cli_rejects_unknown_scenario_and_missing_broker(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "no-such-scenario", "--broker", "kafka://127.0.0.1:1"]) == 2
    assert "neither a scenario" in capsys.readouterr().err
    assert main(["replay", "random-walk", "--positions", "5"]) == 2
    assert "--broker is required" in capsys.readouterr().err
