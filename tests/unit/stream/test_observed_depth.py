"""depth_for: an asset's observed pools (summed) win over its configured model, a quote asset
keeps its configured depth, and the newest reserves of a pool are the ones used."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.config import AssetConfig
from monitor.risk import ConstantProductDepth, PowerLawDepth
from monitor.risk.depth import pooled_depth
from monitor.stream.depth import ObservedDepth
from monitor.wire import PoolReserves

ASSETS = {"WETH": AssetConfig(depth_usd_2pct=1e6), "USDC": AssetConfig(depth_usd_2pct=5e6)}


def pool(address: str, weth: float, usdc: float, version: int = 1,
         fee: float = 0.003) -> PoolReserves:
    """A WETH/USDC pool."""
    return PoolReserves(address, "uniswap-v2", ("WETH", "USDC"), (weth, usdc), fee,
                        (version, 0), 0.0)


def test_without_pools_the_configured_model_is_used() -> None:
    observed = ObservedDepth(ASSETS, ["USDC"])
    model, provenance = observed.depth_for("WETH")
    assert model == PowerLawDepth(1e6) and provenance.to_dict() == {"source": "configured",
                                                                     "pools": []}
    assert observed.depth_for("LINK") == (None, observed.depth_for("LINK")[1])
    assert observed.depth_for("LINK")[1].source == "none"


def test_pools_are_summed_and_the_quote_keeps_its_model() -> None:
    observed = ObservedDepth(ASSETS, ["USDC"])
    assert observed.offer(pool("0xb", 100.0, 300_000.0))
    assert observed.offer(pool("0xa", 300.0, 900_000.0))
    model, provenance = observed.depth_for("WETH")
    assert model == ConstantProductDepth(400.0, 0.003)
    assert provenance.source == "observed"
    assert [p["pool"] for p in provenance.to_dict()["pools"]] == ["0xa", "0xb"]
    assert observed.depth_for("USDC")[1].source == "configured"


def test_the_newest_reserves_win() -> None:
    observed = ObservedDepth(ASSETS, ["USDC"])
    assert observed.offer(pool("0xa", 300.0, 900_000.0, version=2))
    assert not observed.offer(pool("0xa", 1.0, 3.0, version=1))
    assert observed.depth_for("WETH")[0] == ConstantProductDepth(300.0, 0.003)


def test_a_split_sale_moves_equal_fee_pools_like_their_sum() -> None:
    """Selling q·R_i/R into each pool moves every pool by the summed pool's factor."""
    reserves, q = [100.0, 300.0], 40.0
    summed = pooled_depth((r, 0.003) for r in reserves)
    each = [ConstantProductDepth(r, 0.003).factors(1.0, np.array([q * r / 400.0]), "down")[0]
            for r in reserves]
    assert each == pytest.approx([summed.factors(1.0, np.array([q]), "down")[0]] * 2)
