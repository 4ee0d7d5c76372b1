"""Alert delivery end to end with real HTTP receivers on 127.0.0.1 and real worker processes:
retries until a failing receiver recovers (every notification, one body per webhook-id), a
hanging receiver that delays no other, a worker killed mid-delivery that loses nothing, and
signatures checked with the test's own implementation of the Standard Webhooks recipe."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.run.broker import EmbeddedBroker
from tests.integration.receivers import Receiver, receiving
from tests.integration.stream_harness import (
    Worker,
    eventually,
    produce,
    ready,
    running,
    start_worker,
    worker_settings,
)

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"a test secret of 24 bytes").decode()
ASSETS = [f"T{i:02d}" for i in range(10)]
FAST_RETRIES = "retry_schedule = [0, 0.2, 0.4, 0.8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"


def write_config(path: Path, receivers: dict[str, str]) -> Path:
    """A model file whose only receivers are webhooks named after the environment variables
    holding their URLs (signed with SECRET); console off."""
    lines = ["[alerts.receivers.console]", 'kind = "console"', "enabled = false"]
    for name, extra in receivers.items():
        lines += [f"[alerts.receivers.{name}]", 'kind = "webhook"',
                  f'url_env = "{name.upper()}_URL"', 'secret_env = "HOOK_SECRET"', extra]
    path.write_text("\n".join(lines) + "\n")
    return path


def price(asset: str, value: float, version: int) -> tuple[str, str, dict[str, Any]]:
    """A price update record."""
    return ("prices", asset, {"asset": asset, "price": value, "version": [version, 0],
                              "timestamp": time.time()})


def jump_and_settle(broker: EmbeddedBroker) -> None:
    """Each asset jumps 50 % (oracle-jump fires), then moves 1 % (it resolves): two
    notifications per asset."""
    produce(broker.bootstrap, [price(a, 100.0, 1) for a in ASSETS])
    produce(broker.bootstrap, [price(a, 150.0, 2) for a in ASSETS])
    produce(broker.bootstrap, [price(a, 151.5, 3) for a in ASSETS])


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks recipe, written here independently of the product: HMAC-SHA256
    keyed by the base64 part of whsec_…, over "id.timestamp.body", base64, as v1,<sig>."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(f"v1,{expected}", s)
               for s in headers["webhook-signature"].split())


def notifications(receiver: Receiver) -> dict[str, list[bytes]]:
    """Bodies received per webhook-id (answered 200)."""
    seen: dict[str, list[bytes]] = {}
    for request in receiver.answered(200):
        seen.setdefault(request.headers["webhook-id"], []).append(request.body)
    return seen


def all_notified(receiver: Receiver) -> dict[str, list[bytes]]:
    """Every asset's firing and resolved notification arrived."""
    seen = notifications(receiver)
    kinds = {orjson.loads(bodies[0])["type"] for bodies in seen.values()}
    assert len(seen) == 2 * len(ASSETS), sorted(seen)
    assert kinds == {"alert.firing", "alert.resolved"}
    return seen


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signing secret in the environment the workers inherit."""
    monkeypatch.setenv("HOOK_SECRET", SECRET)


@pytest.fixture
def receivers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Receiver]]:
    """Three receivers, their URLs in the environment the workers inherit."""
    with receiving() as flaky, receiving() as healthy, receiving() as hanging:
        found = {"flaky": flaky, "healthy": healthy, "hanging": hanging}
        for name, receiver in found.items():
            monkeypatch.setenv(f"{name.upper()}_URL", receiver.url)
        yield found


def start(broker: EmbeddedBroker, tmp_path: Path, config: Path, name: str) -> Worker:
    """A worker with this model file."""
    settings = worker_settings(broker.url, tmp_path / "data", config_path=config,
                               app_id="alerts-delivery")
    return start_worker(settings, tmp_path / f"{name}.log")


@pytest.mark.usefixtures("secret_env")
def test_a_failing_receiver_gets_every_notification_once_it_recovers(
        broker: EmbeddedBroker, tmp_path: Path, receivers: dict[str, Receiver]) -> None:
    flaky = receivers["flaky"]
    flaky.status = 500
    config = write_config(tmp_path / "alerts.toml", {"flaky": FAST_RETRIES})
    with running([start(broker, tmp_path, config, "worker")]) as (worker,):
        ready(worker)
        jump_and_settle(broker)
        eventually(lambda: len(flaky.answered(500)) >= 2 * len(ASSETS), 30)
        flaky.status = 200
        seen = eventually(lambda: all_notified(flaky), 30)
        served: list[Any] = [worker.get("/alerts/"), metrics_text(worker)]
        fingerprint = orjson.loads(next(iter(seen.values()))[0])["data"]["fingerprint"]
        served.append(worker.get(f"/alerts/{fingerprint}/"))
    for bodies in seen.values():
        assert len(set(bodies)) == 1  # a retry resends the same notification under its id
    exposed = worker.log.read_text() + repr(served) + b"".join(
        r.body for r in flaky.requests).decode()
    for secret in (SECRET, SECRET.removeprefix("whsec_"), flaky.url):
        assert secret not in exposed  # never logged, served, exported or sent
    assert {r.headers["webhook-id"] for r in flaky.answered(500)} <= set(seen)
    for request in flaky.requests:
        assert verify_standard_webhook(SECRET, request.headers, request.body)
        assert not verify_standard_webhook("whsec_" + base64.b64encode(b"wrong").decode(),
                                           request.headers, request.body)


@pytest.mark.usefixtures("secret_env")
def test_a_hanging_receiver_delays_no_other(broker: EmbeddedBroker, tmp_path: Path,
                                            receivers: dict[str, Receiver]) -> None:
    """Every notification reaches the healthy receiver while the hanging one has answered
    nothing: its requests wait out a 60 s timeout the test never reaches."""
    hanging, healthy = receivers["hanging"], receivers["healthy"]
    hanging.hang.set()
    config = write_config(tmp_path / "alerts.toml", {"hanging": "timeout = 60.0",
                                                     "healthy": ""})
    with running([start(broker, tmp_path, config, "worker")]) as (worker,):
        ready(worker)
        jump_and_settle(broker)
        eventually(lambda: all_notified(healthy), 30)
        assert hanging.requests and all(r.status is None for r in hanging.requests)


@pytest.mark.usefixtures("secret_env")
def test_a_worker_killed_mid_delivery_loses_no_notification(
        broker: EmbeddedBroker, tmp_path: Path, receivers: dict[str, Receiver]) -> None:
    receiver = receivers["flaky"]
    receiver.hang.set()
    config = write_config(tmp_path / "alerts.toml", {"flaky": f"timeout = 60.0\n{FAST_RETRIES}"})
    first = start(broker, tmp_path, config, "first")
    try:
        ready(first)
        jump_and_settle(broker)
        eventually(lambda: _resolved_everywhere(first), 30)
        eventually(lambda: _asserted(bool(receiver.requests)), 30)
    finally:
        first.process.kill()  # SIGKILL while a request waits for its answer
        first.process.wait()
    assert all(r.status is None for r in receiver.requests)
    receiver.hang.clear()
    with running([start(broker, tmp_path, config, "second")]) as (second,):
        ready(second)
        eventually(lambda: all_notified(receiver), 60)


def metrics_text(worker: Worker) -> str:
    """GET /metrics as text."""
    url = f"http://127.0.0.1:{worker.settings.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text: str = response.read().decode()
    assert "monitor_alert_deliveries_total" in text
    return text


def _asserted(condition: bool) -> bool:
    """Assert, for eventually()."""
    assert condition
    return condition


def _resolved_everywhere(worker: Worker) -> None:
    """The worker's alerts table holds every asset's alert, resolved."""
    status, body = worker.get("/alerts/?status=resolved")
    assert status == 200 and body["count"] == len(ASSETS), body
