"""The guard in front of the views: the bearer token (every path but /health/, and /metrics when
configured open), and malformed HTTP answered 400 with one WARNING line, no traceback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import ClientSession, web

from monitor.config import load_settings
from monitor.localhost import free_port
from monitor.stream.web.guard import install

TOKEN = "s3cr3t-token-value"
Serve = Callable[[dict[str, str]], Awaitable[str]]


async def ok(request: web.Request) -> web.Response:
    return web.json_response({"path": request.path})


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a guarded aiohttp app on 127.0.0.1 configured by MONITOR_* variables."""
    runners: list[web.AppRunner] = []

    async def start(environ: dict[str, str]) -> str:
        app = web.Application()
        install(app, load_settings(environ=environ))
        app.router.add_get("/{tail:.*}", ok)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def statuses(base: str, headers: dict[str, str] | None = None) -> dict[str, int]:
    """Status of each path."""
    async with ClientSession(headers=headers) as http:
        found = {}
        for path in ("/health/", "/health/live/", "/metrics", "/clusters/", "/positions/p/"):
            async with http.get(base + path) as response:
                found[path] = response.status
        return found


async def test_without_a_token_everything_is_open(serve: Serve) -> None:
    base = await serve({})
    assert set((await statuses(base)).values()) == {200}


async def test_a_token_guards_every_endpoint_but_health(serve: Serve) -> None:
    base = await serve({"MONITOR_WEB_TOKEN": TOKEN})
    assert await statuses(base) == {"/health/": 200, "/health/live/": 200, "/metrics": 401,
                                    "/clusters/": 401, "/positions/p/": 401}
    wrong = await statuses(base, {"Authorization": "Bearer nope"})
    assert wrong["/clusters/"] == 401
    right = await statuses(base, {"Authorization": f"Bearer {TOKEN}"})
    assert set(right.values()) == {200}


async def test_metrics_can_be_left_open(serve: Serve) -> None:
    base = await serve({"MONITOR_WEB_TOKEN": TOKEN,
                        "MONITOR_METRICS_OPEN": "true"})
    found = await statuses(base)
    assert (found["/metrics"], found["/clusters/"]) == (200, 401)


def test_the_token_is_never_in_the_settings_repr() -> None:
    assert TOKEN not in repr(load_settings(environ={"MONITOR_WEB_TOKEN": TOKEN}))


@pytest.mark.parametrize("raw", [
    b"GET /clusters/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET /clusters/ HTTP/9.9\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
], ids=["negative-length", "bad-version", "nul-in-path", "bad-header"])
async def test_malformed_http_is_a_4xx_and_one_warning(
        serve: Serve, caplog: pytest.LogCaptureFixture, raw: bytes) -> None:
    base = await serve({})
    host, port = base.removeprefix("http://").split(":")
    with caplog.at_level(logging.DEBUG, logger="aiohttp"):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    assert answer.startswith(b"HTTP/1.") and answer.split()[1].startswith(b"4"), answer
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert not errors and not any(r.exc_info for r in caplog.records)
    assert len(warnings) == 1 and "malformed HTTP request from" in warnings[0].getMessage()
