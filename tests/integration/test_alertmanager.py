"""The product pushes its alerts to a real Alertmanager (Debian's), whose own webhook delivery
reaches a receiver with the product's labels, and the resolve follows when the condition
clears."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.run.broker import EmbeddedBroker
from tests.integration.alertmanager import running_alertmanager
from tests.integration.receivers import Receiver, receiving
from tests.integration.stream_harness import (
    eventually,
    produce,
    serving,
    worker_settings,
)

pytestmark = pytest.mark.integration

FAST_ROUTE = {"group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"}
CONFIG = """
[alerts.receivers.console]
kind = "console"
enabled = false
[alerts.receivers.alertmanager]
kind = "alertmanager"
url_env = "ALERTMANAGER_URL"
resend_interval = 1.0
retry_schedule = [0, 0.5, 1, 1, 1, 1]
"""


def price(value: float, version: int) -> tuple[str, str, dict[str, Any]]:
    """A WETH price update."""
    return ("prices", "WETH", {"asset": "WETH", "price": value, "version": [version, 0],
                               "timestamp": time.time()})


def alertmanager_said(receiver: Receiver, status: str) -> dict[str, Any]:
    """The first notification Alertmanager sent with this status."""
    for request in receiver.answered(200):
        body = request.json()
        if body["status"] == status:
            return dict(body)
    raise AssertionError(f"no {status} notification from Alertmanager yet")


def test_alerts_reach_a_receiver_through_alertmanager(
        broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "alerts.toml"
    config.write_text(CONFIG)
    with receiving() as receiver, \
            running_alertmanager(tmp_path / "am", receiver.url, FAST_ROUTE) as alertmanager:
        monkeypatch.setenv("ALERTMANAGER_URL", alertmanager)
        settings = worker_settings(broker.url, tmp_path / "data", config_path=config)
        with serving(settings, tmp_path / "worker.log"):
            produce(broker.bootstrap, [price(3000.0, 1), price(3600.0, 2)])  # a 20 % jump
            firing = eventually(lambda: alertmanager_said(receiver, "firing"), 30)
            (alert,) = firing["alerts"]
            assert alert["labels"] == {"alertname": "oracle-jump", "severity": "warning",
                                       "asset": "WETH"}
            assert "20.00%" in alert["annotations"]["summary"]
            assert re.search(r"/alerts/[0-9a-f]{16}/$", alert["generatorURL"])
            produce(broker.bootstrap, [price(3610.0, 3)])  # a 0.3 % move: the jump is over
            resolved = eventually(lambda: alertmanager_said(receiver, "resolved"), 30)
    assert resolved["alerts"][0]["labels"]["asset"] == "WETH"
    assert resolved["alerts"][0]["status"] == "resolved"
