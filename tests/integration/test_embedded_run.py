"""`monitor run` as a user starts it: serves clusters and cascades (on the devnet, with its own
model's cascade triggers while its liquidator clears underwater accounts, levels from both its
protocols), stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.localhost import free_port

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0  # the acceptance line: non-empty /clusters/ and /cascades/ within 60 s


def get_json(url: str) -> Any:
    """GET a JSON document; None while the server is not up or answers an error."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def assets_of(clusters: Any) -> list[str]:
    """Asset names listed by GET /clusters/ ({"assets": [{"asset": ...}, ...]})."""
    if not isinstance(clusters, dict):
        return []
    return [entry["asset"] for entry in clusters.get("assets", [])]


def down_trigger(base: str, asset: str) -> float | None:
    """The down-side cascade trigger price served for `asset`, None while there is none."""
    cascade = get_json(f"{base}/cascades/{asset}/")
    return cascade["down"]["trigger_price"] if cascade else None


@pytest.fixture
def monitor_run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """`monitor run` with the arguments of the test's parameter, as a child process; its output
    goes to tmp_path/run.log."""
    port = free_port()
    log = (tmp_path / "run.log").open("wb")
    cmd = [sys.executable, "-m", "monitor", "run", "--web-port", str(port),
           "--log-dir", str(tmp_path / "logs"), *request.param]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
        print((tmp_path / "run.log").read_text(errors="replace"))


@pytest.mark.parametrize(("monitor_run", "trigger_asset"), [
    (["--feed", "scenario", "--positions", "3000", "--steps", "60", "--interval", "0.5"], None),
    (["--accounts", "100", "--steps", "60", "--interval", "0.5"], "WETH"),
], indirect=["monitor_run"], ids=["scenario", "devnet-default"])
def test_run_serves_clusters_and_cascades_then_stops_cleanly(
        monitor_run: tuple[subprocess.Popen[bytes], str], trigger_asset: str | None,
        tmp_path: Path) -> None:
    process, base = monitor_run
    started = time.monotonic()
    deadline = time.monotonic() + DEADLINE_S
    assets: list[str] = []
    levels: Any = None
    cascade: Any = None
    while time.monotonic() < deadline and process.poll() is None:
        assets = assets_of(get_json(f"{base}/clusters/"))
        if assets:
            levels = get_json(f"{base}/clusters/{assets[0]}/")
            cascade = get_json(f"{base}/cascades/{assets[0]}/")
            if levels and levels["levels"] and cascade:
                break
        time.sleep(1)
    assert process.poll() is None, "monitor run exited early"
    assert assets, "no clusters served"
    assert levels and levels["levels"], f"no levels for {assets[0]}"
    assert cascade, f"no cascade projection for {assets[0]}"
    assert cascade["asset"] == assets[0] and cascade["price"] > 0
    assert {"down", "up"} <= set(cascade)
    if trigger_asset is not None:  # the devnet model's depth fits its book: a cascade trigger
        trigger = down_trigger(base, trigger_asset)
        while trigger is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
            trigger = down_trigger(base, trigger_asset)
        print(f"first {trigger_asset} down trigger {trigger} after "
              f"{time.monotonic() - started:.1f}s")
        assert trigger is not None, f"no {trigger_asset} down trigger"
        fired = f"monitor alerts: [FIRING] critical cascade-proximity: {trigger_asset}"
        while fired not in (tmp_path / "run.log").read_text(errors="replace") \
                and time.monotonic() < deadline + 20:
            time.sleep(0.5)  # the trigger is within 5 %: the console receiver shows the alert
        output = (tmp_path / "run.log").read_text(errors="replace")
        assert fired in output
        assert "devnet_config.toml" in output
        assert "liquidator on" in output
        protocols: set[str] = set()  # the run follows both protocols of its devnet
        while protocols != {"aave-v3", "morpho-blue"} and time.monotonic() < deadline:
            weth = get_json(f"{base}/clusters/{trigger_asset}/") or {"levels": []}
            protocols = {p for level in weth["levels"] for p in level["protocols"]}
            time.sleep(0.5)
        assert protocols == {"aave-v3", "morpho-blue"}
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0


def test_devnet_feed_without_anvil_fails_naming_npm_install(tmp_path: Path) -> None:
    env = {**os.environ, "MONITOR_ANVIL": str(tmp_path / "no-anvil")}
    done = subprocess.run([sys.executable, "-m", "monitor", "run", "--web-port",
                           str(free_port())], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 1
    assert "npm install" in done.stderr
    assert "--feed scenario" in done.stderr
    assert "embedded broker stopped" in done.stdout
