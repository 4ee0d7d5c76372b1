"""What each receiver kind is sent, retry timing and answers judged (pure functions)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import replace

import orjson
import pytest

from monitor.alerting.config import ReceiverConfig
from monitor.alerting.delivery import _retry_after, retry_delay
from monitor.alerting.payloads import Endpoint, Notification, alertmanager, request_for
from monitor.wire import AlertRecord

RECORD = AlertRecord(
    fingerprint="0123456789abcdef", rule="cascade-proximity", status="firing", sequence=3,
    labels={"alertname": "cascade-proximity", "severity": "critical", "asset": "WETH",
            "side": "down"},
    annotations={"summary": "WETH is 1.00% from its down cascade trigger"}, subject="WETH",
    value=0.01, threshold=0.05, starts_at=1_700_000_000.0, ends_at=None,
    at=1_700_000_060.0)
FIRING = Notification("msg_0123456789abcdef_3", "firing", RECORD)
SECRET = "whsec_" + base64.b64encode(b"payload test secret").decode()


def test_webhook_is_plain_json_signed_over_id_timestamp_body() -> None:
    request = request_for("webhook", Endpoint("http://h/x", SECRET), FIRING, 1_700_000_061.0,
                          "http://w:6066", 240.0)
    body = orjson.loads(request.body)
    assert body["type"] == "alert.firing" and body["data"] == RECORD.to_dict()
    headers = request.headers
    assert headers["webhook-id"] == FIRING.id and headers["webhook-timestamp"] == "1700000061"
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{FIRING.id}.1700000061.".encode() + request.body,
                      hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()


def test_slack_discord_and_pagerduty_shapes() -> None:
    endpoint = Endpoint("http://h/x", routing_key="rk")
    slack = orjson.loads(request_for("slack", endpoint, FIRING, 0.0, "", 0.0).body)
    assert slack["text"].startswith("[FIRING] critical cascade-proximity: WETH")
    assert slack["blocks"][0]["text"]["type"] == "mrkdwn"
    discord = orjson.loads(request_for("discord", endpoint, FIRING, 0.0, "", 0.0).body)
    assert discord["content"] == slack["text"] and discord["embeds"][0]["color"] == 0xD93025
    trigger = orjson.loads(request_for("pagerduty", endpoint, FIRING, 0.0, "", 0.0).body)
    assert (trigger["event_action"], trigger["dedup_key"], trigger["routing_key"]) == (
        "trigger", RECORD.fingerprint, "rk")
    assert trigger["payload"]["severity"] == "critical"
    resolved = Notification(FIRING.id, "resolved", RECORD)
    assert orjson.loads(request_for("pagerduty", endpoint, resolved, 0.0, "", 0.0).body) == {
        "routing_key": "rk", "event_action": "resolve", "dedup_key": RECORD.fingerprint}


def test_alertmanager_alerts_end_after_a_lease_unless_resolved() -> None:
    (alert,) = alertmanager([RECORD], 240.0, 1_700_000_100.0, "http://w:6066")
    assert alert["labels"] == RECORD.labels
    assert alert["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert alert["endsAt"] == "2023-11-14T22:19:00.000Z"  # now + 240 s
    assert alert["generatorURL"] == "http://w:6066/alerts/0123456789abcdef/"
    done = replace(RECORD, status="resolved", ends_at=1_700_000_070.0)
    assert alertmanager([done], 240.0, 1_700_000_100.0, "")[0]["endsAt"] == \
        "2023-11-14T22:14:30.000Z"


def test_retry_delays_follow_the_schedule_with_jitter_and_retry_after() -> None:
    receiver = ReceiverConfig("w", "webhook", retry_schedule=(0.0, 5.0, 300.0), jitter=0.1)
    rng = random.Random(1)
    delays = [retry_delay(receiver, 1, None, rng) for _ in range(200)]
    assert all(4.5 <= d <= 5.5 for d in delays if d is not None) and len(set(delays)) > 100
    assert retry_delay(receiver, 1, 60.0, rng) == 60.0
    assert retry_delay(receiver, 3, None, rng) is None


@pytest.mark.parametrize(("headers", "body", "seconds"), [
    ({"Retry-After": "7"}, b"", 7.0),
    ({}, b'{"message": "You are being rate limited.", "retry_after": 1.5}', 1.5),
    ({}, b"not json", None),
    ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"", 0.0),
])
def test_retry_after_from_header_or_discord_body(headers: dict[str, str], body: bytes,
                                                 seconds: float | None) -> None:
    assert _retry_after(headers, body) == seconds
