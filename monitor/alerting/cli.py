"""`monitor alerts test` (a test notification to each configured receiver, with its outcome)
and `monitor alerts verify` (check a received webhook's signature, the receiver's side)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import orjson

from monitor.alerting.config import AlertingConfig, load_alerting
from monitor.alerting.delivery import endpoint_for, send
from monitor.alerting.payloads import Notification, headline, request_for
from monitor.alerting.signing import WebhookVerificationError, verify
from monitor.alerting.state import fingerprint
from monitor.config import ConfigError
from monitor.wire import AlertRecord

LEASE_S = 300.0  # how long Alertmanager shows the test alert


def sample_notification(now: float) -> Notification:
    """A firing alert that says it is a test."""
    labels = {"alertname": "monitor-test", "severity": "info"}
    record = AlertRecord(
        fingerprint=fingerprint(labels), rule="monitor-test", status="firing", sequence=1,
        labels=labels, annotations={"summary": "test notification from `monitor alerts test`"},
        subject="test", value=None, threshold=0.0, starts_at=now, ends_at=None, at=now)
    return Notification(f"msg_test_{uuid.uuid4().hex}", "test", record)


async def send_tests(cfg: AlertingConfig, names: list[str]) -> int:
    """Send each named receiver a test notification; print each outcome; 0 if all arrived."""
    failures = 0
    async with aiohttp.ClientSession() as session:
        for name in names:
            receiver = cfg.receivers[name]
            notification = sample_notification(time.time())
            if receiver.kind == "console":
                print(f"{name} (console): {headline(notification)}")
                continue
            try:
                endpoint = endpoint_for(receiver, os.environ)
            except ConfigError as exc:
                print(f"{name} ({receiver.kind}): not sent: {exc}")
                failures += 1
                continue
            request = request_for(receiver.kind, endpoint, notification, time.time(),
                                  "monitor-alerts-test", LEASE_S)
            attempt = await send(session, request, receiver.timeout)
            status = f"HTTP {attempt.status}" if attempt.status else attempt.error
            print(f"{name} ({receiver.kind}): {attempt.outcome} ({status}), "
                  f"webhook-id {notification.id}")
            failures += attempt.outcome != "delivered"
    return 1 if failures else 0


def run_test(args: argparse.Namespace) -> int:
    """Entry point of `monitor alerts test`."""
    try:
        cfg = load_alerting(args.config or (Path(os.environ["MONITOR_CONFIG"])
                                            if os.environ.get("MONITOR_CONFIG") else None))
    except ConfigError as exc:
        print(f"monitor alerts: {exc}", file=sys.stderr)
        return 2
    names = [args.receiver] if args.receiver else sorted(cfg.receivers)
    unknown = [n for n in names if n not in cfg.receivers]
    if unknown:
        print(f"monitor alerts: no receiver {unknown[0]!r} (configured: "
              f"{', '.join(sorted(cfg.receivers)) or 'none'})", file=sys.stderr)
        return 2
    return asyncio.run(send_tests(cfg, names))


def _headers(lines: list[str], path: Path | None) -> dict[str, str]:
    """Headers from "Name: value" arguments and/or a JSON object file."""
    headers: dict[str, str] = {}
    if path is not None:
        headers.update({str(k): str(v) for k, v in orjson.loads(path.read_bytes()).items()})
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return headers


def run_verify(args: argparse.Namespace) -> int:
    """Entry point of `monitor alerts verify`."""
    secret = os.environ.get(args.secret_env)
    if not secret:
        print(f"monitor alerts verify: environment variable {args.secret_env} is not set",
              file=sys.stderr)
        return 2
    body = sys.stdin.buffer.read() if str(args.body) == "-" else args.body.read_bytes()
    try:
        verify(secret, body, _headers(args.header, args.headers))
    except WebhookVerificationError as exc:
        print(f"invalid: {exc}")
        return 1
    print("valid")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `monitor alerts test` and `monitor alerts verify`."""
    parser = subparsers.add_parser("alerts", help="test receivers, verify webhook signatures")
    sub = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    test = sub.add_parser("test", help="send a test notification to the configured receivers",
                          description="Send each receiver of the model file's [alerts] a test "
                                      "notification and report its outcome (exit 1 if any "
                                      "failed). Secrets come from the environment variables "
                                      "the file names.")
    test.add_argument("--receiver", metavar="NAME", help="only this receiver")
    test.add_argument("--config", type=Path, help="TOML model file (env MONITOR_CONFIG)")
    test.set_defaults(func=run_test)
    check = sub.add_parser("verify", help="check a received webhook's signature",
                           description="Check a Standard Webhooks signature: the body and "
                                       "its webhook-id, webhook-timestamp and "
                                       "webhook-signature headers against the whsec_ secret "
                                       "(timestamp within 5 minutes). Exit 0 valid, 1 not.")
    check.add_argument("--body", type=Path, required=True, help="the body (- for stdin)")
    check.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                       help="a received header (repeat for each)")
    check.add_argument("--headers", type=Path, help="a JSON object of the received headers")
    check.add_argument("--secret-env", default="WEBHOOK_SECRET", metavar="NAME",
                       help="environment variable holding the secret (default WEBHOOK_SECRET)")
    check.set_defaults(func=run_verify)
