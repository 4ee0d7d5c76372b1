"""GET /map/WETH in headless Chromium (Debian's, through its chromedriver) against a worker fed
by the 2020-03-12 crash: a screenshot; one bar per served level, with its side and value, at
its price; the price and cascade markers where the axis puts the served prices; and a new price
moving the price marker without a reload. Then GET /map/: a card with a small map per asset."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from monitor.run.broker import EmbeddedBroker
from monitor.scenario.replay import publish_scenario
from tests.integration import stream_harness as harness
from tests.integration.stream_harness import Worker

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"  # Debian's, the same version as its chromium
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1000")
WAIT_S = 30.0
# where the page draws things, read in the page: x ticks, bars, markers
GEOMETRY = """
const ticks = [...document.querySelectorAll('.tick.x')].map(
  (t) => [Number(t.dataset.value), Number(t.querySelector('line').getAttribute('x1'))]);
const y = [...document.querySelectorAll('.tick.y')].map(
  (t) => [Number(t.dataset.value), Number(t.querySelector('line').getAttribute('y1'))]);
const bars = [...document.querySelectorAll('.bar')].map((b) => {
  const rects = [...b.querySelectorAll('rect')];
  return {side: b.dataset.side, value: Number(b.dataset.value),
          low: Number(b.dataset.priceLow), x: Number(rects[0].getAttribute('x')),
          height: rects.reduce((s, r) => s + Number(r.getAttribute('height')), 0)};
});
const markers = [...document.querySelectorAll('.marker')].map((m) => ({
  kind: m.dataset.kind, side: m.dataset.side, price: Number(m.dataset.price),
  x: Number(m.querySelector('line').getAttribute('x1'))}));
return {ticks, y, bars, markers, updatedAt: document.querySelector('svg').dataset.updatedAt};
"""


@pytest.fixture
def worker(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Worker]:
    """A worker that has taken in the crash scenario and projects a WETH cascade down."""
    started = harness.start_worker(harness.worker_settings(broker.url, tmp_path / "worker"),
                           tmp_path / "worker.log")
    with harness.running([started]):
        harness.ready(started)
        asyncio.run(publish_scenario(broker.bootstrap, "crash-2020-03-12",
                                     positions=harness.SIGNIFICANT_BOOK, seed=1, steps=3,
                                     interval=0.0))

        def projected() -> None:
            status, body = started.get("/cascades/WETH/")
            assert status == 200 and body["down"]["trigger_price"] is not None, body

        harness.eventually(projected)
        yield started


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def settled(worker: Worker) -> dict[str, Any]:
    """/clusters/WETH/ once its levels stopped changing (the scenario is fully applied)."""
    def unchanged() -> dict[str, Any]:
        first = worker.get("/clusters/WETH/")[1]
        time.sleep(1.5)
        again: dict[str, Any] = worker.get("/clusters/WETH/")[1]
        assert again["updated_at"] == first["updated_at"] and again["price"] == first["price"]
        return again
    return harness.eventually(unchanged)


def drawn(browser: WebDriver, until: Any) -> dict[str, Any]:
    """The page's geometry once `until(geometry)` holds."""
    found: dict[str, Any] = {}

    def ready(driver: WebDriver) -> bool:
        found.update(driver.execute_script(GEOMETRY))
        return bool(until(found))

    WebDriverWait(browser, WAIT_S, poll_frequency=0.2).until(ready)
    return found


def pixel(ticks: list[list[float]], value: float) -> float:
    """Where the axis (its first and last ticks) puts `value`."""
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    return p0 + (value - v0) * (p1 - p0) / (v1 - v0)


def marker(geometry: dict[str, Any], kind: str, side: str = "") -> dict[str, Any]:
    """The one marker of that kind and side."""
    found: list[dict[str, Any]] = [m for m in geometry["markers"]
                                   if m["kind"] == kind and m["side"] == side]
    assert len(found) == 1, geometry["markers"]
    return found[0]


def test_map_draws_the_served_levels_and_markers_and_follows_the_price(
        worker: Worker, browser: WebDriver, broker: EmbeddedBroker, tmp_path: Path) -> None:
    levels = settled(worker)
    cascade = worker.get("/cascades/WETH/")[1]
    browser.get(f"http://127.0.0.1:{worker.settings.web_port}/map/WETH")
    page = drawn(browser, lambda g: g["updatedAt"] == str(levels["updated_at"]))
    assert browser.title == "WETH liquidation map"
    shot = tmp_path / "map-WETH.png"
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

    price = marker(page, "price")
    assert price["price"] == levels["price"]
    assert price["x"] == pytest.approx(pixel(page["ticks"], levels["price"]), abs=0.5)
    for kind, field in (("trigger", "trigger_price"), ("terminal", "terminal_price")):
        found = marker(page, kind, "down")
        assert found["price"] == cascade["down"][field]
        assert found["x"] == pytest.approx(pixel(page["ticks"], found["price"]), abs=0.5)
    assert not [m for m in page["markers"] if m["side"] == "up"]  # nothing triggers upwards

    browser.find_element(By.CSS_SELECTOR, '[data-zoom="all"]').click()
    served = sorted((lvl["side"], lvl["value_usd"], lvl["price_low"]) for lvl in levels["levels"])
    every = drawn(browser, lambda g: len(g["bars"]) == len(served))
    assert sorted((b["side"], b["value"], b["low"]) for b in every["bars"]) == served
    usd_per_px = (every["y"][-1][0] - every["y"][0][0]) / (every["y"][0][1] - every["y"][-1][1])
    for bar in every["bars"]:
        assert bar["x"] == pytest.approx(pixel(every["ticks"], bar["low"]), abs=0.5)
        assert bar["height"] == pytest.approx(max(1.0, bar["value"] / usd_per_px), abs=0.5)

    browser.find_element(By.CSS_SELECTOR, '[data-zoom="auto"]').click()
    before = marker(drawn(browser, lambda g: len(g["bars"]) < len(served)), "price")
    browser.execute_script("window.sameDocument = true")
    moved = levels["price"] * 0.97
    harness.produce(broker.bootstrap, [("prices", "WETH", {
        "asset": "WETH", "price": moved, "source": "test", "version": [1 << 40, 0],
        "timestamp": time.time()})])
    after = drawn(browser, lambda g: any(m["kind"] == "price" and m["price"] == moved
                                         for m in g["markers"]))
    now = marker(after, "price")
    assert now["x"] == pytest.approx(pixel(after["ticks"], moved), abs=0.5)
    assert now["x"] < before["x"]  # the range stayed: the line moved left through the levels
    assert browser.execute_script("return window.sameDocument") is True

    summaries = worker.get("/clusters/")[1]["assets"]
    browser.get(f"http://127.0.0.1:{worker.settings.web_port}/map/")
    cards = 'return [...document.querySelectorAll(".card")].map((c) => [c.dataset.asset, ' \
        'c.querySelectorAll(".bar").length])'
    WebDriverWait(browser, WAIT_S, poll_frequency=0.2).until(
        lambda driver: len(driver.execute_script(cards)) == len(summaries))
    drawn_cards = dict(browser.execute_script(cards))
    assert set(drawn_cards) == {summary["asset"] for summary in summaries}
    assert drawn_cards["WETH"] > 0
