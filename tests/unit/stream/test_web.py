"""The web view's handlers without a worker: a position's description, and routing a query to
its owner (here, forwarded, or an honest 503 while nobody can answer)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import faust.web
import orjson
import pytest
from aiohttp import ClientSession, web
from yarl import URL

from monitor.localhost import free_port
from monitor.risk import from_snapshot
from monitor.stream import context
from monitor.stream.positions.views import describe_position
from monitor.stream.web.routing import ROUTED, routed

PRICES = {"WETH": 3000.0, "USDC": 1.0}
POSITION = from_snapshot({
    "position_id": "p", "protocol": "spark", "account": "0x1", "kind": "lending",
    "collateral": [{"asset": "WETH", "amount": 1.0, "liquidation_threshold": 0.8}],
    "debt": [{"asset": "USDC", "amount": 2000.0}], "version": [4, 2]})


def test_a_position_is_described_at_the_current_prices() -> None:
    body = describe_position(POSITION, PRICES)
    assert body["health_factor"] == pytest.approx(1.2) and not body["liquidatable_now"]
    assert body["liquidation_prices"] == {
        "WETH": {"price": pytest.approx(2500.0), "side": "long"},   # 0.8 × p = 2000
        "USDC": {"price": pytest.approx(1.2), "side": "short"}}     # 2000 × p = 2400
    assert body["version"] == [4, 2] and body["missing_prices"] == []


def test_a_position_missing_a_price_says_which_instead_of_guessing() -> None:
    body = describe_position(POSITION, {"WETH": 3000.0})
    assert body["missing_prices"] == ["USDC"] and body["health_factor"] is None


@dataclass
class Response:
    """What a Faust view builds: a body, a status and headers."""

    body: bytes
    status: int
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.body)


class View:
    """The part of a Faust view the handlers use."""

    def bytes(self, body: bytes, content_type: str, status: int) -> Response:
        return Response(body, status, content_type)


@dataclass
class Context:
    """The routing's view of the worker: who owns the key, who we are, whether ready."""

    owner_url: URL | None
    me: URL = field(default_factory=lambda: URL("http://127.0.0.1:1"))
    recovered: bool = True
    held: bool = True
    http: ClientSession | None = None
    owners: Iterator[URL] | None = None  # one owner per look-up, instead of owner_url

    def owner(self, table: Any, key: str) -> URL | None:
        return self.owner_url if self.owners is None else next(self.owners)

    def is_me(self, url: URL) -> bool:
        return url == self.me

    def ready(self) -> bool:
        return self.recovered

    def holds(self, table: Any, key: str) -> bool:
        return self.held

    @property
    def app(self) -> Any:
        return self

    @property
    def http_client(self) -> ClientSession | None:
        return self.http

    @property
    def settings(self) -> Any:
        return self

    route_timeout = 2.0
    web_token = None


@dataclass
class Request:
    """A request to this worker."""

    url: URL = field(default_factory=lambda: URL("http://127.0.0.1:1/positions/p/?x=1"))
    headers: dict[str, str] = field(default_factory=dict)


async def local() -> Response:
    return Response(b'{"here": true}', 200, "application/json")


async def route(ctx: Context, request: Request | None = None) -> Response:
    """routed() on key "p" with the fakes cast to the worker's types, whose parts they have."""
    answered = await routed(cast(context.Context, ctx), cast(faust.web.View, View()),
                            cast(faust.web.Request, request or Request()), None, "p",
                            cast(Callable[[], Awaitable[faust.web.Response]], local))
    return cast(Response, answered)


async def test_the_owner_answers_itself_once_ready() -> None:
    ctx = Context(owner_url=Context(None).me)
    answered = await route(ctx)
    assert answered.status == 200 and answered.json() == {"here": True}
    ctx.recovered = False
    answered = await route(ctx)
    assert answered.status == 503 and answered.headers["Retry-After"] == "1"
    ctx.recovered, ctx.held = True, False  # the group says ours, our assignment not yet
    answered = await route(ctx)
    assert answered.status == 503 and "recovering" in answered.json()["error"]


async def test_no_owner_yet_is_a_503_not_an_error() -> None:
    answered = await route(Context(None))
    assert answered.status == 503 and "rebalancing" in answered.json()["error"]


@pytest.fixture
async def owner() -> AsyncIterator[URL]:
    """Another worker on 127.0.0.1 that answers what it was asked and how."""
    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path_qs,
                                  "routed": request.headers.get(ROUTED)})
    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield URL(f"http://127.0.0.1:{port}")
    await runner.cleanup()


async def test_a_key_owned_elsewhere_is_forwarded_once(owner: URL) -> None:
    async with ClientSession() as http:
        ctx = Context(owner_url=owner, http=http)
        answered = await route(ctx)
        assert answered.status == 200
        assert answered.json() == {"path": "/positions/p/?x=1", "routed": "1"}
        again = await route(ctx, Request(headers={ROUTED: "1"}))
        assert again.status == 503  # never forwarded twice while ownership moves


async def test_an_unreachable_owner_is_a_503_not_a_500() -> None:
    async with ClientSession() as http:
        ctx = Context(owner_url=URL(f"http://127.0.0.1:{free_port()}"), http=http)
        answered = await route(ctx)
        assert answered.status == 503 and "did not answer" in answered.json()["error"]
        assert math.isclose(float(answered.headers["Retry-After"]), 1.0)


async def test_a_failed_forward_follows_the_key_to_its_new_owner(owner: URL) -> None:
    async with ClientSession() as http:
        dead = URL(f"http://127.0.0.1:{free_port()}")
        ctx = Context(owner_url=dead, http=http, owners=iter([dead, owner]))
        answered = await route(ctx)
        assert answered.status == 200 and answered.json()["routed"] == "1"
