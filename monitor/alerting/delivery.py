"""Delivering one request and judging the answer: delivered (2xx), retry later (5xx, 408, 425,
429, timeouts, connection errors; honouring Retry-After and Discord's `retry_after`), or failed
for good (any other 4xx). Errors name the status or exception type, never the URL (a secret)."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp
import orjson

from monitor.alerting.config import PAGERDUTY_EVENTS_URL, ReceiverConfig
from monitor.alerting.payloads import Endpoint, HttpRequest
from monitor.config import ConfigError

RETRIED_4XX: Final = (408, 425, 429)


@dataclass(frozen=True)
class Attempt:
    """The outcome of one request: "delivered", "retry" or "failed"."""

    outcome: str
    status: int | None = None
    retry_after: float | None = None
    error: str = ""


def _retry_after(headers: Mapping[str, str], body: bytes) -> float | None:
    """Seconds the receiver asks to wait: Retry-After (seconds or an HTTP date), or the
    `retry_after` of a JSON body (Discord)."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
            if parsed is not None:
                return max(parsed.timestamp() - time.time(), 0.0)
    try:
        decoded = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    after = decoded.get("retry_after") if isinstance(decoded, dict) else None
    if isinstance(after, int | float) and not isinstance(after, bool) and math.isfinite(after):
        return max(float(after), 0.0)
    return None


async def send(session: aiohttp.ClientSession, request: HttpRequest, timeout: float) -> Attempt:
    """POST the request once, within `timeout` seconds."""
    try:
        async with session.post(request.url, data=request.body, headers=dict(request.headers),
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            body = await response.read()
            status = response.status
            if 200 <= status < 300:
                return Attempt("delivered", status)
            after = _retry_after(response.headers, body)
            if status >= 500 or status in RETRIED_4XX:
                return Attempt("retry", status, after, f"HTTP {status}")
            return Attempt("failed", status, None, f"HTTP {status}")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Attempt("retry", None, None, type(exc).__name__)


def retry_delay(receiver: ReceiverConfig, attempts: int, retry_after: float | None,
                rng: random.Random) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones (None: the schedule is
    used up): the schedule's step with ± `jitter` of it, never sooner than Retry-After."""
    schedule = receiver.retry_schedule
    if attempts >= len(schedule):
        return None
    step = schedule[attempts] * (1.0 + receiver.jitter * rng.uniform(-1.0, 1.0))
    return max(step, retry_after or 0.0)


def endpoint_for(receiver: ReceiverConfig, environ: Mapping[str, str]) -> Endpoint:
    """The receiver's URL and secrets from the environment variables it names (ConfigError
    naming a variable that is not set, never its value)."""
    def needed(variable: str | None) -> str | None:
        """The value of an environment variable the receiver names."""
        if variable is None:
            return None
        value = environ.get(variable)
        if not value:
            raise ConfigError(f"alerts.receivers.{receiver.name}: environment variable "
                              f"{variable} is not set")
        return value

    url = needed(receiver.url_env) or receiver.url
    if receiver.kind == "pagerduty":
        url = url or PAGERDUTY_EVENTS_URL
    return Endpoint(url=url or "", secret=needed(receiver.secret_env),
                    routing_key=needed(receiver.routing_key_env))
