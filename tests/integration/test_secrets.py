"""Secrets never leave the process: a worker guarded by MONITOR_WEB_TOKEN, delivering to a
failing webhook whose URL and signing secret come from the environment, and an ingester whose
node URL carries an API key and answers only errors. Every log line and every response of the
run (every endpoint, with and without the token, /metrics, an alert's delivery errors, the
ingester's output) is searched for each secret."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from monitor.run.broker import EmbeddedBroker
from tests.integration.receivers import receiving
from tests.integration.stream_harness import (
    Worker,
    eventually,
    serving,
    worker_settings,
)
from tests.integration.test_alert_delivery import (
    FAST_RETRIES,
    SECRET,
    jump_and_settle,
    write_config,
)

pytestmark = pytest.mark.integration
TOKEN = "token-" + "7c1e" * 8
HOOK_KEY = "hookpathkey5b2d9e"
RPC_KEY = "rpckey0123456789abcdef"
PATHS = ("/health/", "/health/live/", "/metrics", "/clusters/", "/clusters/T00/",
         "/cascades/T00/", "/alerts/", "/positions/nobody/", "/map/", "/map/T00")


def fetch(worker: Worker, path: str, token: str | None) -> tuple[int, str, str]:
    """(status, headers, body) of GET path, with `Authorization: Bearer token` if given."""
    request = urllib.request.Request(f"http://127.0.0.1:{worker.settings.web_port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, str(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, str(exc.headers), exc.read().decode()


def test_no_secret_reaches_a_log_a_response_or_the_metrics(
        broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    with receiving(status=500) as hook, receiving(status=503) as node:
        monkeypatch.setenv("OPS_URL", f"{hook.url}/{HOOK_KEY}")
        config = write_config(tmp_path / "alerts.toml", {"ops": FAST_RETRIES})
        settings = worker_settings(broker.url, tmp_path / "data", config_path=config,
                                   app_id="secrets", web_token=TOKEN)
        with serving(settings, tmp_path / "worker.log") as worker:
            jump_and_settle(broker)
            eventually(lambda: len(hook.requests) >= 4)  # deliveries fail and are retried
            asked = {(path, token): fetch(worker, path, token) for path in PATHS
                     for token in (None, "wrong", TOKEN)}
            answers = list(asked.values())
            _, _, body = fetch(worker, "/alerts/", TOKEN)
            for alert in orjson.loads(body)["alerts"]:
                answers.append(fetch(worker, f"/alerts/{alert['fingerprint']}/", TOKEN))
        rpc = f"http://127.0.0.1:{node.port}/v3/{RPC_KEY}"
        ingest = subprocess.run(
            [sys.executable, "-m", "monitor", "ingest", "--rpc", rpc, "--pool",
             "0x" + "11" * 20, "--broker", broker.url, "--once"],
            capture_output=True, text=True, timeout=180, check=False)
    guarded = [path for path in PATHS if not path.startswith("/health/")]
    assert {asked[(path, token)][0] for path in guarded for token in (None, "wrong")} == {401}
    assert asked[("/health/", None)][0] == 200 and asked[("/clusters/", TOKEN)][0] == 200
    assert ingest.returncode != 0 and node.requests  # it tried the node and gave up
    exposed = (worker.log.read_text() + repr(answers) + ingest.stdout + ingest.stderr
               + "".join(r.body.decode() for r in hook.requests))
    for secret in (TOKEN, SECRET, SECRET.removeprefix("whsec_"), HOOK_KEY, RPC_KEY):
        assert secret not in exposed, secret
