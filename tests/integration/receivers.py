"""Real HTTP receivers on 127.0.0.1 for alert delivery tests: an aiohttp server in a thread of
its own that records every request (time, headers, body) and answers as told: an HTTP status,
or a hang until released."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from monitor.localhost import free_port


@dataclass
class Received:
    """One request as the receiver saw it."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None  # what it was answered (None: still hanging, or dropped)

    def json(self) -> Any:
        """The body, decoded."""
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """A running receiver: `status` is what the next requests are answered; `hang` makes
    them wait until it is cleared."""

    port: int
    status: int = 200
    hang: threading.Event = field(default_factory=threading.Event)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self.port}/hook"

    def answered(self, status: int = 200) -> list[Received]:
        """The requests answered `status` so far."""
        with self.lock:
            return [r for r in self.requests if r.status == status]

    def ids(self, status: int = 200) -> set[str]:
        """Distinct webhook-ids answered `status`."""
        return {r.headers["webhook-id"] for r in self.answered(status)}

    async def handle(self, request: web.Request) -> web.Response:
        """Record the request, then answer (or hang)."""
        seen = Received(time.time(), request.path, dict(request.headers), await request.read())
        with self.lock:
            self.requests.append(seen)
        while self.hang.is_set():
            await asyncio.sleep(0.05)
        seen.status = self.status
        return web.Response(status=self.status, text="ok")


@contextmanager
def receiving(status: int = 200) -> Iterator[Receiver]:
    """A receiver on a free loopback port for the with-block."""
    receiver = Receiver(free_port(), status)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app)

    def serve() -> None:
        """Run the server until the loop is stopped."""
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", receiver.port).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield receiver
    finally:
        receiver.hang.clear()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
