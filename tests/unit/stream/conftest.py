"""Fixtures of the stream features' unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.risk import from_snapshot
from monitor.stream.app import Stream, build_stream
from monitor.wire import PriceUpdate
from tests.unit import contagion_market

SHOCK = 0.8  # the down trigger the market's WETH projection names, as a share of WETH's price


@pytest.fixture
def market_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stream]:
    """A one-partition worker holding a market that cascades at a 20 % WETH shock, ready, its
    WETH projection naming that down trigger."""
    snapshots, prices = contagion_market.snapshots(400, 3)
    positions = [from_snapshot(s) for s in snapshots]
    model = contagion_market.model_file(tmp_path / "model.toml",
                                        contagion_market.model(positions, prices))
    built = build_stream(load_settings(model, environ={}).with_overrides(partitions=1))
    monkeypatch.setattr(built.ctx, "ready", lambda: True)
    monkeypatch.setattr(built.ctx, "owned", lambda topic: {0})
    for position in positions:
        built.positions.books.apply(0, position)
    found = {p.position_id: p for p in positions}
    monkeypatch.setattr(built.contagion.responder, "find", found.get)
    for asset, price in prices.items():
        built.prices.offer(PriceUpdate(asset, price, (1, 0), 1.0, "test"))
    built.cascades.projections["WETH"] = {
        "asset": "WETH", "price": prices["WETH"], "down": {"trigger_price": prices["WETH"] * SHOCK},
        "up": {"trigger_price": None}}
    yield built
