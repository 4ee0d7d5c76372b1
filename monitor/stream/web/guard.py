"""What stands in front of every view: an optional bearer token (MONITOR_WEB_TOKEN) guarding
every endpoint but /health/ (and /metrics when MONITOR_METRICS_OPEN), and malformed HTTP
answered 4xx with one WARNING line instead of aiohttp's ERROR traceback."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from monitor.config import Settings

OPEN_PREFIXES: Final = ("/health/",)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class QuietMalformed(logging.Filter):
    """Turns aiohttp's "Error handling request" traceback for a request it could not parse
    (a client's mistake, answered 400) into one WARNING line naming the client and the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record when its exception is a 4xx parse error; keep every record."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 400) < 500:
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg, record.args = "malformed HTTP request from %s: %s", (
                remote, f"{type(exc).__name__}: {exc.message}"[:200])
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def quiet_malformed_requests() -> None:
    """Install QuietMalformed on aiohttp's server logger (once per process)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, QuietMalformed) for f in logger.filters):
        logger.addFilter(QuietMalformed())


def open_paths(settings: Settings) -> tuple[str, ...]:
    """Path prefixes served without the token."""
    return (*OPEN_PREFIXES, "/metrics") if settings.metrics_open else OPEN_PREFIXES


def bearer_guard(token: str, unguarded: tuple[str, ...]) -> Callable[..., Awaitable[
        web.StreamResponse]]:
    """aiohttp middleware answering 401 unless the request carries `Authorization: Bearer
    <token>` (compared in constant time) or its path starts with one of `unguarded`."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Let the request through, or answer 401."""
        if request.path.startswith(unguarded):
            return await handler(request)
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if hmac.compare_digest(given, expected):
            return await handler(request)
        body = orjson.dumps({"error": "a bearer token is required", "status": 401})
        return web.Response(body=body, status=401, content_type="application/json",
                            headers={"WWW-Authenticate": 'Bearer realm="monitor"'})

    return guard


def authorization(settings: Settings) -> dict[str, str]:
    """The header a worker sends when it forwards a query to a peer (empty without a token)."""
    return {"Authorization": f"Bearer {settings.web_token}"} if settings.web_token else {}


def install(web_app: web.Application, settings: Settings) -> None:
    """Guard `web_app` as settings say and quieten malformed requests."""
    quiet_malformed_requests()
    if settings.web_token:
        web_app.middlewares.append(bearer_guard(settings.web_token, open_paths(settings)))
