"""The liquidation map feature: levels in bands of distance from the price (against the risk
core's liquidatable_within), the banded gauge, and the pages and scripts the worker serves."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from faust.web.drivers import aiohttp as faust_aiohttp

from monitor.config import load_settings
from monitor.risk import ClusterGrid, ClusterMap, Side, liquidatable_within
from monitor.stream.app import Stream, build_stream
from monitor.stream.map.bands import BAND_WIDTH, BANDS, band_label, banded
from monitor.stream.partials import ClusterPartial
from monitor.wire import PriceUpdate

STATIC = Path(__file__).resolve().parents[2] / "monitor" / "stream" / "map" / "static"
PRICE = 2000.0
Client = TestClient[web.Request, web.Application]


GRID = ClusterGrid()


def on_grid(levels: list[tuple[Side, float, float, str]]) -> ClusterMap:
    """A cluster map of (side, price, USD, protocol) levels, each in its grid bucket."""
    return ClusterMap.from_dict({"asset": "WETH", "grid_step": GRID.step, "levels": [
        {"side": side, "bucket": int(GRID.buckets(np.array([price]))[0]), "quantity": usd / price,
         "value_usd": usd, "debt_usd": usd * 0.9, "positions": 1, "protocols": {protocol: usd}}
        for side, price, usd, protocol in levels]})


def random_levels(count: int, seed: int) -> ClusterMap:
    """Levels on both sides from 30 % below to 30 % above the price, some already crossed."""
    rng = random.Random(seed)
    return on_grid([(rng.choice(("long", "short")), PRICE * rng.uniform(0.7, 1.3),
                     rng.uniform(1e3, 1e6), "aave-v3") for _ in range(count)])


def test_band_labels_are_signed_far_edges_in_percent_and_sort_by_price() -> None:
    labels = [band_label(side, band) for side in ("long", "short")
              for band in range(1, BANDS + 1)]
    assert len(set(labels)) == 2 * BANDS
    assert band_label("long", 1) == "-0.5" and band_label("short", BANDS) == "+20.0"
    ordered = sorted(labels, key=float)
    assert ordered[:2] == ["-20.0", "-19.5"] and ordered[-2:] == ["+19.5", "+20.0"]


@pytest.mark.parametrize("seed", range(5))
def test_bands_summed_outward_equal_the_value_liquidatable_within_each_move(seed: int) -> None:
    clusters = random_levels(400, seed)
    bands = banded(clusters.levels, PRICE)
    for side in ("long", "short"):
        running = 0.0
        for band in range(1, BANDS + 1):
            running += bands[side, band]
            expected = liquidatable_within(clusters, PRICE, band * BAND_WIDTH, side)
            assert running == pytest.approx(expected, rel=1e-9, abs=1e-6), (side, band)


def test_crossed_levels_count_in_the_first_band_and_far_ones_nowhere() -> None:
    clusters = on_grid([("long", PRICE * 1.01, 5.0, "spark"), ("short", PRICE * 0.98, 7.0, "a"),
                        ("long", PRICE * 0.5, 11.0, "spark"), ("short", PRICE * 1.3, 13.0, "a")])
    bands = banded(clusters.levels, PRICE)
    assert bands["long", 1] == 5.0 and bands["short", 1] == 7.0
    assert sum(bands.values()) == 12.0
    assert len(bands) == 2 * BANDS


@pytest.fixture
def stream() -> Stream:
    """A stream (never started) holding WETH's levels and price, as its owner would."""
    built = build_stream(load_settings(environ={}))
    clusters = on_grid([("long", PRICE * 0.97, 1e6, "aave-v3"),
                        ("short", PRICE * 1.041, 2e6, "spark")])
    built.clusters.board.put(ClusterPartial("WETH", 0, 1.0, clusters))
    built.prices.offer(PriceUpdate("WETH", PRICE, (1, 0), 0.0, "test"))
    return built


def test_gauge_reports_every_band_of_each_owned_asset(stream: Stream) -> None:
    samples = {(s.labels["side"], s.labels["band"]): s.value
               for family in stream.ctx.metrics.registry.collect()
               if family.name == "monitor_liquidation_band_usd" for s in family.samples}
    assert len(samples) == 2 * BANDS
    assert samples["long", "-3.0"] == 1e6  # 3 % below: its upper edge is 2.76 % below
    assert samples["short", "+4.5"] == 2e6  # its lower edge is 4.1 % above
    assert sum(samples.values()) == 3e6


@pytest.fixture
async def client(stream: Stream) -> AsyncIterator[Client]:
    """An HTTP client of the stream's web view (no worker, no broker)."""
    async with TestClient(TestServer(cast(faust_aiohttp.Web, stream.app.web).web_app)) as running:
        yield running


async def test_pages_are_served_with_the_asset_and_their_own_scripts(client: Client) -> None:
    page = await client.get("/map/WETH")
    assert page.status == 200 and page.content_type == "text/html"
    text = await page.text()
    assert 'data-asset="WETH"' in text and "<title>WETH liquidation map</title>" in text
    index = await client.get("/map/")
    assert index.status == 200 and "static/index.js" in await index.text()
    for name in re.findall(r'(?:src|href)="(static/[^"]+)"', text + await index.text()):
        served = await client.get(f"/map/{name}")
        assert served.status == 200, name


async def test_trailing_slashes_redirect_relatively_and_bad_assets_are_refused(
        client: Client) -> None:
    for path, location in (("/map/WETH/", "../WETH"), ("/map", "map/")):
        moved = await client.get(path, allow_redirects=False)
        assert (moved.status, moved.headers["Location"]) == (308, location)
    assert (await client.get("/map/W%20ETH")).status == 400
    assert (await client.get("/map/W%20ETH/", allow_redirects=False)).status == 400


async def test_scripts_import_only_served_modules_and_fetch_nothing_remote(
        client: Client) -> None:
    for path in STATIC.iterdir():
        source = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", source), path.name
        for module in re.findall(r'from "\./([^"]+)"', source):
            served = await client.get(f"/map/static/{module}")
            assert served.status == 200 and "javascript" in served.content_type, module


@pytest.mark.parametrize("script", sorted(p.name for p in STATIC.glob("*.js")))
def test_scripts_parse_as_modules(script: str, tmp_path: Path) -> None:
    module = tmp_path / f"{Path(script).stem}.mjs"  # node checks .mjs files as ES modules
    shutil.copy(STATIC / script, module)
    done = subprocess.run(["node", "--check", str(module)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
