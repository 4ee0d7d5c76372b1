"""The devnet's Uniswap v2 pools and oracle keeper on the real contracts: the Router is bound to
the local Factory (its pair address derivation, the init-code hash, agrees), each pool holds 3x
the seeded collateral of its asset at the oracle's price, and after a sale the keeper moves the
asset's aggregator and its Morpho oracle to the pool's spot in one block, then has nothing to do."""

from __future__ import annotations

import pytest
from web3 import Web3

from monitor.devnet.aave_deploy import price_answer
from monitor.devnet.devnet import POOL_BOOK_MULTIPLE, Devnet
from monitor.devnet.morpho_deploy import market_oracle_price
from monitor.devnet.oracle_keeper import OracleKeeper
from monitor.devnet.uniswap import uniswap

pytestmark = pytest.mark.integration


def test_pools_hold_three_times_the_book_at_the_oracle_price(devnet: Devnet) -> None:
    pools, held, prices = devnet.pools, devnet.collateral_held(), devnet.prices()
    router = devnet.w3.eth.contract(address=Web3.to_checksum_address(pools.deployment.router),
                                    abi=uniswap("UniswapV2Router02").abi)
    assert router.functions.factory().call().lower() == pools.deployment.factory
    for asset, pool in pools.deployment.pools.items():
        base, quote = pools.reserves(asset)
        assert base == pytest.approx(POOL_BOOK_MULTIPLE * held[asset], rel=1e-6)
        assert quote / base == pytest.approx(prices[asset], rel=1e-9)
        usdc = devnet.deployment.assets["USDC"].address
        out = router.functions.getAmountsOut(10**6, [Web3.to_checksum_address(usdc), Web3.
                                             to_checksum_address(devnet.deployment.assets[asset]
                                                                 .address)]).call()
        assert out[-1] > 0, f"the Router cannot price through the {asset} pair {pool.address}"


def test_the_keeper_moves_the_oracles_to_the_pool_spot(clean_devnet: Devnet) -> None:
    devnet, keeper = clean_devnet, OracleKeeper(clean_devnet)
    assert keeper.sync() == {}
    devnet.pools.move(devnet.deployer, "WETH", 0.95)
    spot = devnet.pools.spot("WETH")
    before = devnet.block_number()
    assert keeper.sync() == {"WETH": spot}
    assert devnet.block_number() == before + 1, "aggregator and Morpho oracle in one block"
    assert devnet.answers()["WETH"] == price_answer(spot)
    market = devnet.morpho.market("WETH/USDC")
    assert devnet.morpho.price("WETH/USDC") == market_oracle_price(
        market, devnet.answers(), devnet.deployment)
    assert keeper.sync() == {}
