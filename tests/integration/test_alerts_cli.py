"""`monitor alerts test` against real receivers on 127.0.0.1, and `monitor alerts verify` on
what one of them received (the README's recipe)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.receivers import receiving

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"cli secret, 24 bytes long").decode()
CONFIG = """
[alerts.receivers.ops]
kind = "webhook"
url_env = "OPS_URL"
secret_env = "OPS_SECRET"
[alerts.receivers.down]
kind = "slack"
url_env = "DOWN_URL"
"""


def monitor(*args: str, env: dict[str, str], stdin: bytes | None = None
            ) -> subprocess.CompletedProcess[str]:
    """Run `python -m monitor ARGS`."""
    return subprocess.run([sys.executable, "-m", "monitor", *args], env={**os.environ, **env},
                          capture_output=True, text=True, input=None if stdin is None
                          else stdin.decode(), timeout=60)


def test_alerts_test_reports_each_receiver_and_verify_checks_the_signature(
        tmp_path: Path) -> None:
    config = tmp_path / "alerts.toml"
    config.write_text(CONFIG)
    with receiving() as ops, receiving(status=404) as down:
        env = {"OPS_URL": ops.url, "OPS_SECRET": SECRET, "DOWN_URL": down.url}
        done = monitor("alerts", "test", "--config", str(config), env=env)
        assert done.returncode == 1, done.stdout + done.stderr  # one receiver failed
        lines = dict(line.split(": ", 1) for line in done.stdout.splitlines())
        assert lines["ops (webhook)"].startswith("delivered (HTTP 200)")
        assert lines["down (slack)"].startswith("failed (HTTP 404)")
        assert lines["console (console)"].startswith("[TEST] info monitor-test")
        only = monitor("alerts", "test", "--config", str(config), "--receiver", "ops", env=env)
        assert only.returncode == 0 and only.stdout.startswith("ops (webhook): delivered")
        (first, second) = ops.answered(200)
    assert down.requests[0].json()["text"].startswith("[TEST]")
    assert first.headers["webhook-id"] != second.headers["webhook-id"]
    body = tmp_path / "body.json"
    body.write_bytes(first.body)
    headers = tmp_path / "headers.json"
    headers.write_text(json.dumps(first.headers))
    secret = {"WEBHOOK_SECRET": SECRET}
    valid = monitor("alerts", "verify", "--body", str(body), "--headers", str(headers),
                    env=secret)
    assert (valid.returncode, valid.stdout.strip()) == (0, "valid")
    piped = monitor("alerts", "verify", "--body", "-", *(
        arg for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        for arg in ("--header", f"{name}: {first.headers[name]}")), env=secret,
        stdin=first.body)
    assert (piped.returncode, piped.stdout.strip()) == (0, "valid")
    body.write_bytes(first.body.replace(b"monitor-test", b"monitor-fake"))
    tampered = monitor("alerts", "verify", "--body", str(body), "--headers", str(headers),
                       env=secret)
    assert tampered.returncode == 1 and tampered.stdout.startswith("invalid")
    for out in (done.stdout, done.stderr, only.stdout, valid.stdout, tampered.stdout):
        assert SECRET not in out and ops.url not in out and down.url not in out
