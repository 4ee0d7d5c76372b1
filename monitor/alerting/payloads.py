"""What each kind of receiver is sent for one notification (pure: bytes and headers, no I/O).

A notification is one alert record as it changed (firing, resolved, a repeat, or a test) with
the id that stays the same on every retry of it (`webhook-id`, the receivers' idempotency key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from monitor.alerting.signing import sign_headers
from monitor.wire import AlertRecord

COLOURS: Final = {"critical": 0xD93025, "warning": 0xF9AB00, "info": 0x1A73E8,
                  "resolved": 0x188038}
PAGERDUTY_SEVERITY: Final = {"critical": "critical", "warning": "warning", "info": "info"}
JSON: Final = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Notification:
    """One alert change to tell a receiver about."""

    id: str  # the webhook id: the same on every retry, so that a receiver can drop repeats
    kind: str  # firing, resolved, repeat or test
    record: AlertRecord


@dataclass(frozen=True)
class Endpoint:
    """Where a receiver's requests go, with its secrets (never logged: repr hides them)."""

    url: str = field(repr=False, default="")
    secret: str | None = field(repr=False, default=None)
    routing_key: str | None = field(repr=False, default=None)


@dataclass(frozen=True)
class HttpRequest:
    """One POST to make."""

    url: str = field(repr=False)
    body: bytes
    headers: Mapping[str, str]


def iso(timestamp: float) -> str:
    """RFC 3339 UTC time with milliseconds."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def headline(n: Notification) -> str:
    """One line: state, severity, rule and the summary."""
    r = n.record
    state = {"firing": "FIRING", "repeat": "FIRING (repeat)", "resolved": "RESOLVED",
             "test": "TEST"}[n.kind]
    return f"[{state}] {r.labels.get('severity', '')} {r.rule}: {r.annotations.get('summary', '')}"


def plain(n: Notification) -> dict[str, Any]:
    """The plain JSON body (Standard Webhooks' {type, timestamp, data} envelope)."""
    return {"type": f"alert.{n.kind}", "timestamp": iso(n.record.at), "id": n.id,
            "data": n.record.to_dict()}


def slack(n: Notification) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` (notifications, fallback) and `blocks`."""
    r = n.record
    labels = ", ".join(f"{k}={v}" for k, v in sorted(r.labels.items()))
    return {"text": headline(n), "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline(n)}*"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": labels},
                                         {"type": "mrkdwn", "text": iso(r.at)}]}]}


def discord(n: Notification) -> dict[str, Any]:
    """A Discord webhook message: `content` and one embed."""
    r = n.record
    colour = COLOURS["resolved" if n.kind == "resolved" else r.labels.get("severity", "info")]
    return {"content": headline(n), "embeds": [{
        "title": f"{r.rule} ({n.kind})", "description": r.annotations.get("summary", ""),
        "color": colour, "timestamp": iso(r.at),
        "fields": [{"name": k, "value": v, "inline": True} for k, v in sorted(r.labels.items())],
    }]}


def pagerduty(n: Notification, routing_key: str) -> dict[str, Any]:
    """A PagerDuty Events v2 event: trigger or resolve, deduplicated by the fingerprint."""
    r = n.record
    if n.kind == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve",
                "dedup_key": r.fingerprint}
    return {"routing_key": routing_key, "event_action": "trigger", "dedup_key": r.fingerprint,
            "payload": {"summary": headline(n)[:1024], "source": r.subject,
                        "severity": PAGERDUTY_SEVERITY.get(r.labels.get("severity", ""), "error"),
                        "timestamp": iso(r.starts_at), "component": r.labels.get("asset"),
                        "custom_details": {**r.labels, "value": r.value,
                                           "threshold": r.threshold}}}


def alertmanager(records: list[AlertRecord], lease: float, now: float,
                 generator_url: str) -> list[dict[str, Any]]:
    """Alertmanager's POST /api/v2/alerts body: a firing alert ends `lease` seconds from now
    unless re-sent (as Prometheus does), a resolved one at its end."""
    return [{"labels": dict(r.labels), "annotations": dict(r.annotations),
             "startsAt": iso(r.starts_at),
             "endsAt": iso(r.ends_at if r.status == "resolved" and r.ends_at else now + lease),
             "generatorURL": f"{generator_url}/alerts/{r.fingerprint}/"} for r in records]


def request_for(kind: str, endpoint: Endpoint, n: Notification, now: float,
                generator_url: str, lease: float) -> HttpRequest:
    """The request a receiver of `kind` is sent for `n` (signed for webhooks)."""
    if kind == "alertmanager":
        body = orjson.dumps(alertmanager([n.record], lease, now, generator_url))
        return HttpRequest(f"{endpoint.url.rstrip('/')}/api/v2/alerts", body, JSON)
    if kind == "pagerduty":
        return HttpRequest(endpoint.url, orjson.dumps(pagerduty(n, endpoint.routing_key or "")),
                           JSON)
    shape = {"webhook": plain, "slack": slack, "discord": discord}[kind]
    body = orjson.dumps(shape(n))
    headers = dict(JSON)
    if endpoint.secret is not None:
        headers.update(sign_headers(endpoint.secret, n.id, int(now), body))
    return HttpRequest(endpoint.url, body, headers)
