"""`monitor replay` into a real (Tansu) broker, read back with a plain aiokafka consumer
(tests.integration.records)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from monitor.run.broker import EmbeddedBroker
from monitor.scenario.market import generate_market
from monitor.scenario.replay import publish_scenario
from tests.integration.records import read_topics

pytestmark = pytest.mark.integration


async def test_publish_scenario_lands_every_snapshot_and_the_path(
        broker: EmbeddedBroker) -> None:
    state = await publish_scenario(broker.bootstrap, "crash-2020-03-12", positions=2_000,
                                   seed=4, steps=6, interval=0.0)
    assert state.by_topic["positions"] == 2_000
    records = await read_topics(broker.bootstrap, state.total)
    assert len(records) == state.total
    expected = {s["position_id"]: s for s in generate_market(2_000, seed=4).snapshots()}
    positions = {key: value for topic, key, value in records if topic == "positions"}
    assert positions.keys() == expected.keys()
    for pid, snap in positions.items():
        assert snap == {**expected[pid], "timestamp": snap["timestamp"]}
    path: dict[str, list[float]] = defaultdict(list)
    for topic, key, value in records:
        if topic == "prices":
            assert key == value["asset"]
            path[value["asset"]].append(value["price"])
    eth = path["WETH"]
    assert len(eth) == 6
    assert min(eth) / eth[0] == pytest.approx(111.21 / 194.74)


def test_cli_replays_a_dumped_file(broker: EmbeddedBroker, tmp_path: Path) -> None:
    dump = tmp_path / "s.jsonl"
    cmd = [sys.executable, "-m", "monitor", "replay", "random-walk", "--positions", "300",
           "--steps", "3"]
    subprocess.run([*cmd, "--dump", str(dump)], check=True, capture_output=True)
    lines = dump.read_bytes().splitlines()
    done = subprocess.run([sys.executable, "-m", "monitor", "replay", str(dump), "--broker",
                           broker.url, "--interval", "0"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"replay: {len(lines)} events" in done.stdout
    records = asyncio.run(read_topics(broker.bootstrap, len(lines)))
    assert sorted(orjson.dumps(v) for _, _, v in records) == sorted(
        orjson.dumps(orjson.loads(line)["value"]) for line in lines)
