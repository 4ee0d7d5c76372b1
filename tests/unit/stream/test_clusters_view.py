"""GET /clusters/{asset}/ on the worker owning the asset, without a broker: an answer is built
once per state of the asset's partials and price (polling dashboards cost the event loop
nothing while nothing changes), and a new partial or price is answered at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from faust.web.drivers import aiohttp as faust_aiohttp
from yarl import URL

from monitor.config import load_settings
from monitor.stream.app import Stream, build_stream
from monitor.stream.clusters import views
from monitor.stream.clusters.board import liquidatable_by_move
from monitor.stream.partials import ClusterPartial
from monitor.wire import PriceUpdate
from tests.unit.test_map import PRICE, on_grid

Client = TestClient[web.Request, web.Application]
ME = URL("http://127.0.0.1:1")


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Stream:
    """A stream (never started) that owns and holds every key, with WETH's price."""
    built = build_stream(load_settings(environ={}))
    for name, value in (("owner", lambda table, key: ME), ("is_me", lambda url: url == ME),
                        ("ready", lambda: True), ("holds", lambda table, key: True)):
        monkeypatch.setattr(built.ctx, name, value)
    built.prices.offer(PriceUpdate("WETH", PRICE, (1, 0), 0.0, "test"))
    return built


@pytest.fixture
async def client(stream: Stream) -> AsyncIterator[Client]:
    """An HTTP client of the stream's web view."""
    async with TestClient(TestServer(cast(faust_aiohttp.Web, stream.app.web).web_app)) as running:
        yield running


def put(stream: Stream, built_at: float, usd: float) -> None:
    """Partition 0's WETH partial: one long level 3 % below the price."""
    stream.clusters.board.put(ClusterPartial(
        "WETH", 0, built_at, on_grid([("long", PRICE * 0.97, usd, "aave-v3")])))


async def test_an_answer_is_built_once_per_state_of_partials_and_price(
        stream: Stream, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []

    def counted(*args: Any) -> Any:
        built.append(args)
        return liquidatable_by_move(*args)
    monkeypatch.setattr(views, "liquidatable_by_move", counted)
    assert (await client.get("/clusters/WETH/")).status == 404
    put(stream, 1.0, 1e6)
    first = [await (await client.get("/clusters/WETH/")).json() for _ in range(3)]
    assert len(built) == 1 and first[0] == first[2]
    assert first[0]["levels"][0]["value_usd"] == 1e6 and first[0]["price"] == PRICE
    put(stream, 2.0, 3e6)
    assert (await (await client.get("/clusters/WETH/")).json())["levels"][0]["value_usd"] == 3e6
    stream.prices.offer(PriceUpdate("WETH", PRICE * 1.01, (2, 0), 0.0, "test"))
    moved = await (await client.get("/clusters/WETH/")).json()
    assert moved["price"] == PRICE * 1.01 and len(built) == 3
    short = await (await client.get("/clusters/WETH/?side=short")).json()
    assert short["levels"] == [] and len(built) == 4  # each filter is its own answer


async def test_the_served_levels_are_each_levels_json_form(stream: Stream,
                                                           client: Client) -> None:
    levels = on_grid([("long", PRICE * 0.97, 1e6, "aave-v3"), ("short", PRICE * 1.02, 2e6, "b"),
                      ("long", PRICE * 0.9, 5e5, "spark")])
    stream.clusters.board.put(ClusterPartial("WETH", 0, 1.0, levels))
    body = await (await client.get("/clusters/WETH/")).json()
    assert body["levels"] == [level.to_dict() for level in levels.levels]
