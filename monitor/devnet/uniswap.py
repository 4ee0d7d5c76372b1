"""Uniswap v2 on the devnet (Factory, Router02 and WETH9 from npm @uniswap/v2-core and
v2-periphery build artifacts): one pool per volatile asset against USDC on Aave's own tokens,
and the swaps liquidators, shocks and arbitrage make through the Router."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from monitor.devnet.aave_deploy import Deployer, Deployment
from monitor.devnet.artifacts import Artifact, aave, node_modules
from monitor.devnet.node_rpc import NodeRpc

QUOTE: Final = "USDC"
FEE: Final = 0.003  # what a v2 pair keeps of every trade
GAMMA: Final = 1.0 - FEE
MAX_UINT: Final = 2**256 - 1
DEADLINE: Final = 2**32  # far beyond any devnet block's timestamp
# A swap's gas, not estimated: the first trade of a pair in a later second also writes its
# cumulative prices from zero (2 × 20k), which an estimate on the pending block may not see.
SWAP_GAS: Final = 300_000
BUILDS: Final = {"UniswapV2Factory": "@uniswap/v2-core/build",
                 "UniswapV2Pair": "@uniswap/v2-core/build",
                 "UniswapV2Router02": "@uniswap/v2-periphery/build",
                 "WETH9": "@uniswap/v2-periphery/build"}


@functools.cache
def uniswap(name: str) -> Artifact:
    """A Uniswap v2 build artifact (waffle JSON: abi, bytecode without 0x) by contract name."""
    doc = json.loads((node_modules() / BUILDS[name] / f"{name}.json").read_text())
    return Artifact(name, doc["abi"], "0x" + doc["bytecode"].removeprefix("0x"), {})


@dataclass(frozen=True)
class Pool:
    """One deployed pair: the asset it prices in USDC and the token order it stores."""

    asset: str
    address: str
    asset_is_token0: bool  # the pair sorts its tokens by address: reserve0 may be USDC's


@dataclass(frozen=True)
class UniswapDeployment:
    """The Factory, the Router, WETH9 and each asset's pool."""

    factory: str
    router: str  # UniswapV2Router02, which the liquidator swaps through
    weth9: str  # the router's WETH (the devnet's own WETH is the Aave reserve)
    pools: dict[str, Pool]


def sale_for_move(reserve: float, factor: float) -> float:
    """Base units to sell into a pool of `reserve` so that its spot becomes factor × spot:
    R²/((R + γΔ)(R + Δ)) = f, i.e. γΔ² + (1 + γ)RΔ + R²(1 − 1/f) = 0."""
    if not 0.0 < factor <= 1.0:
        raise ValueError(f"factor: {factor!r} must be in (0, 1]")
    b, c = (1.0 + GAMMA) * reserve, reserve * reserve * (1.0 - 1.0 / factor)
    return (-b + math.sqrt(b * b - 4.0 * GAMMA * c)) / (2.0 * GAMMA)


class UniswapPools:
    """The deployed pools: reserves and spot prices read from the chain, swaps through the
    Router from any (impersonated or unlocked) account, which mints what it sells."""

    def __init__(self, rpc: NodeRpc, deployment: UniswapDeployment, aave_deployment: Deployment
                 ) -> None:
        self.rpc, self.deployment, self.aave = rpc, deployment, aave_deployment

    @property
    def assets(self) -> list[str]:
        """The assets with a pool against USDC."""
        return list(self.deployment.pools)

    def reserves(self, asset: str, block: int | str = "latest") -> tuple[float, float]:
        """(asset, USDC) reserves of the asset's pool in whole units."""
        pool = self.deployment.pools[asset]
        pair = uniswap("UniswapV2Pair")
        r0, r1, _ = pair.decode_output("getReserves", self.rpc.eth_call(
            pool.address, pair.call_data("getReserves"), block))
        base, quote = (r0, r1) if pool.asset_is_token0 else (r1, r0)
        return (base / 10 ** self.aave.assets[asset].decimals,
                quote / 10 ** self.aave.assets[QUOTE].decimals)

    def spot(self, asset: str, block: int | str = "latest") -> float:
        """The pool's marginal price of the asset in USDC."""
        base, quote = self.reserves(asset, block)
        return quote / base

    def spots(self, block: int | str = "latest") -> dict[str, float]:
        """Every pool's spot price."""
        return {asset: self.spot(asset, block) for asset in self.deployment.pools}

    def swap(self, sender: str, sell: str, buy: str, amount: int, mint: bool = True) -> int:
        """Sell `amount` base units of `sell` for `buy` through the Router (minted to `sender`
        first unless it holds them); the units bought (0 when amount is 0)."""
        if amount <= 0:
            return 0
        token, router = aave("MintableERC20"), uniswap("UniswapV2Router02")
        source = self.aave.assets[sell].address
        if mint:
            self.rpc.transact(sender, source, token.call_data("mint", sender, amount),
                              f"mint {sell}")
        self.rpc.transact(sender, source, token.call_data(
            "approve", self.deployment.router, MAX_UINT), f"approve {sell}")
        path = [source, self.aave.assets[buy].address]
        bought = router.decode_output("getAmountsOut", self.rpc.eth_call(
            self.deployment.router, router.call_data("getAmountsOut", amount, path)), 2)[0][-1]
        self.rpc.transact(sender, self.deployment.router, router.call_data(
            "swapExactTokensForTokens", amount, 0, path, sender, DEADLINE),
            f"swap {sell}->{buy}", gas=SWAP_GAS)
        return int(bought)

    def sell(self, sender: str, asset: str, amount: int) -> int:
        """Sell base units of `asset` the sender holds for USDC (a liquidator selling seized
        collateral); 0 for an asset without a pool (USDC itself)."""
        if asset not in self.deployment.pools:
            return 0
        return self.swap(sender, asset, QUOTE, amount, mint=False)

    def buy(self, sender: str, asset: str, amount: int) -> int:
        """Buy exactly `amount` base units of `asset` with (minted) USDC, as a liquidator
        buys the debt it repays; the USDC units paid (0 for an asset without a pool)."""
        if asset not in self.deployment.pools or amount <= 0:
            return 0
        token, router = aave("MintableERC20"), uniswap("UniswapV2Router02")
        quote = self.aave.assets[QUOTE].address
        path = [quote, self.aave.assets[asset].address]
        paid = int(router.decode_output("getAmountsIn", self.rpc.eth_call(
            self.deployment.router, router.call_data("getAmountsIn", amount, path)), 2)[0][0])
        self.rpc.transact(sender, quote, token.call_data("mint", sender, paid), f"mint {QUOTE}")
        self.rpc.transact(sender, quote, token.call_data(
            "approve", self.deployment.router, MAX_UINT), f"approve {QUOTE}")
        self.rpc.transact(sender, self.deployment.router, router.call_data(
            "swapTokensForExactTokens", amount, paid, path, sender, DEADLINE),
            f"swap {QUOTE}->{asset}", gas=SWAP_GAS)
        return paid

    def move(self, sender: str, asset: str, factor: float) -> int:
        """A direct sale moving the asset's pool spot to factor × spot; the units sold."""
        base, _ = self.reserves(asset)
        units = int(sale_for_move(base, factor) * 10 ** self.aave.assets[asset].decimals)
        self.swap(sender, asset, QUOTE, units)
        return units

    def arbitrage(self, sender: str, asset: str, price: float) -> None:
        """Trade the pool to `price` (fee-less approximation: to the reserves √(k/p), √(kp))."""
        base, quote = self.reserves(asset)
        target = math.sqrt(base * quote / price)
        if target > base:
            self.swap(sender, asset, QUOTE,
                      int((target - base) / GAMMA * 10 ** self.aave.assets[asset].decimals))
        elif target < base:
            self.swap(sender, QUOTE, asset, int((math.sqrt(base * quote * price) - quote)
                                                / GAMMA * 10 ** self.aave.assets[QUOTE].decimals))


def deploy_uniswap(rpc: NodeRpc, deployer: str, aave_deployment: Deployment,
                   reserves: Mapping[str, float], prices: Mapping[str, float]
                   ) -> UniswapDeployment:
    """Factory, WETH9 and Router02, then one pool per asset of `reserves` (base units) with
    reserve × price of USDC beside it, liquidity minted to the deployer."""
    d = Deployer(rpc, deployer)
    factory = d.deploy(uniswap("UniswapV2Factory"), deployer)
    weth9 = d.deploy(uniswap("WETH9"))
    router = d.deploy(uniswap("UniswapV2Router02"), factory, weth9)
    token, pair_art = aave("MintableERC20"), uniswap("UniswapV2Pair")
    quote = aave_deployment.assets[QUOTE]
    pools: dict[str, Pool] = {}
    for asset, reserve in reserves.items():
        base = aave_deployment.assets[asset]
        d.send(factory, uniswap("UniswapV2Factory"), "createPair", base.address, quote.address)
        address = str(d.read(factory, uniswap("UniswapV2Factory"), "getPair", base.address,
                             quote.address)[0]).lower()
        for held, units in ((base, reserve), (quote, reserve * prices[asset])):
            d.send(held.address, token, "mint", address, int(units * 10 ** held.decimals))
        d.send(address, pair_art, "mint", deployer)
        token0 = str(d.read(address, pair_art, "token0")[0]).lower()
        pools[asset] = Pool(asset, address, token0 == base.address.lower())
    return UniswapDeployment(factory, router, weth9, pools)


def pool_manifest(deployment: UniswapDeployment, aave_deployment: Deployment
                  ) -> dict[str, Any]:
    """The manifest's `uniswap_v2` part: the contracts and each pool with its two tokens."""
    return {"factory": deployment.factory, "router": deployment.router,
            "weth9": deployment.weth9, "fee": FEE,
            "pools": {asset: {"address": pool.address, "asset_is_token0": pool.asset_is_token0,
                              "tokens": [aave_deployment.assets[asset].address,
                                         aave_deployment.assets[QUOTE].address]}
                      for asset, pool in deployment.pools.items()}}
