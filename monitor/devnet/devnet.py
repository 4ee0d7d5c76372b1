"""A local lending chain for tests, benchmarks and `monitor devnet`: Anvil with the real Aave V3
and Morpho Blue deployed on the same tokens and prices, accounts seeded in both, and handles to
move prices, liquidate, snapshot and mine."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, NamedTuple, TypeVar, overload

from web3 import HTTPProvider, Web3
from web3.types import TxReceipt

from monitor.devnet.aave_deploy import DeployedAsset, Deployment, deploy_aave, price_answer
from monitor.devnet.aggregator import aggregator_artifact
from monitor.devnet.anvil import CHAIN_ID, AnvilProcess
from monitor.devnet.artifacts import aave
from monitor.devnet.morpho_deploy import deploy_morpho
from monitor.devnet.morpho_markets import MorphoMarkets
from monitor.devnet.morpho_plans import POSITIONS_PER_AAVE_ACCOUNT, plan_morpho_positions
from monitor.devnet.morpho_seeding import MorphoSeeder
from monitor.devnet.node_rpc import LiquidationFailed, NodeRpc, TxFailed
from monitor.devnet.position_plans import plan_positions
from monitor.devnet.seeding import MAX_UINT, Seeder
from monitor.devnet.tx_batches import Batches, SeedStats, Tx
from monitor.devnet.uniswap import UniswapPools, deploy_uniswap, pool_manifest
from monitor.localhost import free_port

log = logging.getLogger(__name__)

LIQUIDATION_MINT_MARGIN = 1.05  # the liquidator holds a little more than the debt it may repay
SET_ANSWER_GAS = 200_000
# Each pool's reserve of its asset, as a multiple of the collateral the seeded book holds in it
# (both protocols): a v2 pool moves 2 % when about 1 % of its reserve is sold, so a pool side
# of 3x the collateral takes 3 % of the book to move 2 %, the ratio devnet_config.toml keeps
# from mainnet (its depth_usd_2pct = 3 % of the devnet's collateral in the asset).
POOL_BOOK_MULTIPLE = 3.0
POOLED_ASSETS = ("WETH", "WBTC", "LINK")


class DevnetError(RuntimeError):
    """The devnet is not running or an operation on it is invalid."""


T = TypeVar("T")


class _Part(Generic[T]):
    """A part of the devnet that a later step makes (start, deploy_pools): read before that
    step, it raises DevnetError saying which step is missing instead of an AttributeError."""

    def __init__(self, missing: str) -> None:
        self.missing = missing
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Part[T]: ...

    @overload
    def __get__(self, obj: object, owner: type) -> T: ...

    def __get__(self, obj: object | None, owner: type) -> _Part[T] | T:
        if obj is None:
            return self
        part: T | None = obj.__dict__.get(self.name)
        if part is None:
            raise DevnetError(self.missing)
        return part

    def __set__(self, obj: object, part: T | None) -> None:
        obj.__dict__[self.name] = part

    def made(self, obj: object) -> bool:
        """Whether the step that makes it has run on `obj`."""
        return obj.__dict__.get(self.name) is not None


class AccountData(NamedTuple):
    """Pool.getUserAccountData, raw integers (base currency 1e8 USD, LTV/threshold in bps,
    health factor in wad)."""

    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold: int
    ltv: int
    health_factor: int


class Devnet:
    """Anvil + Aave V3 + Morpho Blue + seeded accounts; a context manager that stops the chain
    on exit."""

    # the raw, batching JSON-RPC client (no web3 middlewares)
    rpc: _Part[NodeRpc] = _Part("the devnet is not started")
    # addresses of the deployed Aave market
    deployment: _Part[Deployment] = _Part("Aave is not deployed: call start() first")
    # the deployed Morpho Blue, its markets and the positions seeded in them
    morpho: _Part[MorphoMarkets] = _Part("Morpho Blue is not deployed: call start() first")
    # the Uniswap v2 pools (WETH/USDC, WBTC/USDC, LINK/USDC)
    pools: _Part[UniswapPools] = _Part("no Uniswap pools: call deploy_pools() first")

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.anvil = AnvilProcess(port=port or free_port(), log_path=log_path)
        self._w3: Web3 | None = None
        self.accounts: list[str] = []  # seeded on Aave (Morpho's: morpho.positions)
        self.deployer = self.liquidity_provider = self.liquidator = ""

    @property
    def rpc_url(self) -> str:
        """HTTP JSON-RPC endpoint."""
        return self.anvil.rpc_url

    @property
    def ws_url(self) -> str:
        """WebSocket JSON-RPC endpoint."""
        return self.anvil.ws_url

    @property
    def has_pools(self) -> bool:
        """Whether deploy_pools() ran."""
        return Devnet.pools.made(self)

    def deploy_pools(self, multiple: float = POOL_BOOK_MULTIPLE) -> UniswapPools:
        """Uniswap v2 (Factory, Router02, WETH9) and one pool per volatile asset against USDC
        at the oracle's prices, its reserve `multiple` × the seeded collateral in the asset
        (one unit's worth in an empty book)."""
        held = self.collateral_held()
        prices = self.prices()
        reserves = {asset: max(multiple * held.get(asset, 0.0), 1.0) for asset in POOLED_ASSETS}
        self.pools = UniswapPools(self.rpc, deploy_uniswap(
            self.rpc, self.deployer, self.deployment, reserves, prices), self.deployment)
        return self.pools

    def collateral_held(self) -> dict[str, float]:
        """Collateral the seeded accounts hold per asset (Aave aTokens and Morpho positions),
        in whole units."""
        token = aave("MintableERC20")
        assets = self.deployment.assets
        calls = [(name, account) for name in assets for account in self.accounts]
        outs = self.rpc.batch([("eth_call", [{"to": assets[name].a_token, "data": token.call_data(
            "balanceOf", account)}, "latest"]) for name, account in calls])
        held = dict.fromkeys(assets, 0.0)
        for (name, _), out in zip(calls, outs, strict=True):
            held[name] += int(token.decode_output("balanceOf", out, 1)[0]) \
                / 10 ** assets[name].decimals
        for name, account in self.morpho.positions:
            collateral = self.morpho.market(name).spec.collateral
            held[collateral] += self.morpho.position(name, account).collateral \
                / 10 ** assets[collateral].decimals
        return held

    @property
    def w3(self) -> Web3:
        """A web3 client on the devnet, for tests and ad-hoc contract calls."""
        if self._w3 is None:
            self._w3 = Web3(HTTPProvider(self.rpc_url))
        return self._w3

    def start(self) -> Devnet:
        """Start anvil, deploy Aave V3, then Morpho Blue on its tokens at its oracle's prices
        (no accounts seeded yet)."""
        self.rpc = self.anvil.start()
        try:
            dev_accounts = [a.lower() for a in self.rpc.call("eth_accounts")]
            self.deployer, self.liquidity_provider, self.liquidator = dev_accounts[:3]
            self.deployment = deploy_aave(self.rpc, self.deployer)
            morpho = deploy_morpho(self.rpc, self.deployer, self.deployment, self.answers())
            self.morpho = MorphoMarkets(self.rpc, morpho, self.deployment, self.liquidator)
        except BaseException:
            self.stop()
            raise
        return self

    def seed(self, n_accounts: int = 300, seed: int = 0) -> SeedStats:
        """Open `n_accounts` more varied Aave positions and a quarter as many Morpho positions,
        a third of them held by those Aave accounts (deterministic in `seed`), HF just above 1."""
        plans = plan_positions(n_accounts, seed, first_index=len(self.accounts),
                               prices=self.prices())
        stats = Seeder(self.rpc, self.deployment, self.liquidity_provider).run(plans)
        self.accounts += [p.account for p in plans]
        morpho = plan_morpho_positions(
            round(n_accounts * POSITIONS_PER_AAVE_ACCOUNT), seed, [p.account for p in plans],
            self.answers(), {name: a.decimals for name, a in self.deployment.assets.items()},
            first_index=len(self.morpho.positions))
        MorphoSeeder(self.rpc, self.deployment, self.morpho.deployment, self.liquidity_provider,
                     stats).run(morpho)
        self.morpho.positions += [(p.market, p.account) for p in morpho]
        return stats

    def stop(self) -> None:
        """Stop anvil; the chain's state is gone."""
        self.anvil.stop()
        self.rpc = None
        self._w3 = None

    def __enter__(self) -> Devnet:
        """Start if not started."""
        return self if Devnet.rpc.made(self) else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Stop."""
        self.stop()

    @property
    def assets(self) -> list[str]:
        """Reserve symbols."""
        return list(self.deployment.assets)

    def _asset(self, asset: str) -> DeployedAsset:
        """A deployed asset by symbol, or DevnetError naming the known ones."""
        try:
            return self.deployment.assets[asset]
        except KeyError:
            raise DevnetError(f"unknown asset {asset!r}; known: {', '.join(self.assets)}") from None

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest `monitor ingest --manifest` reads: endpoints, every deployed address, the
        seeded accounts and the oracle's current prices."""
        d = self.deployment
        prices = self.prices()
        return {
            "rpc_url": self.rpc_url, "ws_url": self.ws_url, "chain_id": CHAIN_ID,
            "deploy_block": d.deploy_block, "pool": d.pool,
            "pool_addresses_provider": d.pool_addresses_provider, "oracle": d.oracle,
            "data_provider": d.data_provider, "pool_configurator": d.pool_configurator,
            "acl_manager": d.acl_manager,
            "assets": {name: {"address": a.address, "decimals": a.decimals,
                              "aggregator": a.aggregator, "a_token": a.a_token,
                              "variable_debt_token": a.variable_debt_token,
                              "stable_debt_token": a.stable_debt_token,
                              "price": prices[name]}
                       for name, a in d.assets.items()},
            "accounts": list(self.accounts), "liquidator": self.liquidator,
            "morpho_blue": self._morpho_manifest(),
            **({"uniswap_v2": pool_manifest(self.pools.deployment, d)}
               if self.has_pools else {}),
        }

    def _morpho_manifest(self) -> dict[str, Any]:
        """Morpho Blue's part of the manifest: its address, IRM and markets with their oracle's
        price and the accounts seeded in them."""
        m = self.morpho.deployment
        return {"address": m.address, "irm": m.irm, "deploy_block": m.deploy_block,
                "markets": {name: {"id": market.id, "collateral": market.spec.collateral,
                                   "loan": market.spec.loan, "lltv": market.spec.lltv,
                                   "oracle": market.params.oracle,
                                   "oracle_price": str(self.morpho.price(name)),
                                   "accounts": [a for n, a in self.morpho.positions
                                                if n == name]}
                            for name, market in m.markets.items()}}

    def write_manifest(self, path: Path | str) -> Path:
        """Write the manifest as JSON; the path written."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.manifest, indent=2) + "\n")
        return target

    def _receipt(self, raw: dict[str, Any]) -> TxReceipt:
        """web3's formatted receipt (ints, HexBytes) for a raw one."""
        return self.w3.eth.get_transaction_receipt(raw["transactionHash"])

    def set_price(self, asset: str, usd: float) -> TxReceipt:
        """Publish a new aggregator answer round(usd·1e8) for `asset` and move every Morpho
        oracle quoting it to match, in one block (mined); the aggregator's receipt."""
        return self._receipt(self.set_prices({asset: usd})[0])

    def set_prices(self, prices: dict[str, float]) -> list[dict[str, Any]]:
        """New aggregator answers for several assets and every Morpho oracle quoting them, all
        in one block (mined); the aggregators' raw receipts in the order given."""
        moved = {asset: price_answer(usd) for asset, usd in prices.items()}
        for asset, answer in moved.items():
            if answer <= 0:
                raise DevnetError(f"price of {asset} must be positive, got {prices[asset]}")
        feed = aggregator_artifact()
        answers = {**self.answers(), **moved}
        txs = [Tx(self.deployer, self._asset(asset).aggregator,
                  feed.call_data("setAnswer", answer), SET_ANSWER_GAS, f"setAnswer {asset}")
               for asset, answer in moved.items()]
        oracles = {tx.to: tx for asset in moved
                   for tx in self.morpho.oracle_txs(self.deployer, answers, asset)}
        with Batches(self.rpc) as batches:
            return batches.step([*txs, *oracles.values()])[:len(txs)]

    def answers(self, block: int | str = "latest") -> dict[str, int]:
        """Every reserve's AaveOracle price as the aggregators' integer answer (1e8 USD)."""
        return {name: price_answer(usd) for name, usd in self.prices(block).items()}

    def price(self, asset: str, block: int | str = "latest") -> float:
        """AaveOracle.getAssetPrice(asset) in USD (the price the protocol liquidates at)."""
        oracle = aave("AaveOracle")
        out = self.rpc.eth_call(self.deployment.oracle,
                                oracle.call_data("getAssetPrice", self._asset(asset).address),
                                block)
        return int(oracle.decode_output("getAssetPrice", out, 1)[0]) / 1e8

    def prices(self, block: int | str = "latest") -> dict[str, float]:
        """Every reserve's AaveOracle price in USD, in one batch."""
        oracle = aave("AaveOracle")
        tag = hex(block) if isinstance(block, int) else block
        outs = self.rpc.batch([("eth_call", [{"to": self.deployment.oracle,
                                              "data": oracle.call_data("getAssetPrice",
                                                                       a.address)}, tag])
                               for a in self.deployment.assets.values()])
        return {name: int(oracle.decode_output("getAssetPrice", out, 1)[0]) / 1e8
                for name, out in zip(self.deployment.assets, outs, strict=True)}

    def user_account_data(self, account: str, block: int | str | None = None) -> AccountData:
        """Pool.getUserAccountData(account) at `block` (default latest)."""
        pool = aave("Pool")
        out = self.rpc.eth_call(self.deployment.pool,
                                pool.call_data("getUserAccountData", account.lower()),
                                "latest" if block is None else block)
        return AccountData(*pool.decode_output("getUserAccountData", out, 1))

    def account_data(self, block: int | str | None = None) -> dict[str, AccountData]:
        """getUserAccountData of every seeded account at one block, in one batch."""
        pool = aave("Pool")
        tag = "latest" if block is None else hex(block) if isinstance(block, int) else block
        outs = self.rpc.batch([("eth_call", [{"to": self.deployment.pool,
                                              "data": pool.call_data("getUserAccountData", a)},
                                             tag]) for a in self.accounts])
        return {a: AccountData(*pool.decode_output("getUserAccountData", out, 1))
                for a, out in zip(self.accounts, outs, strict=True)}

    def debt_of(self, account: str, asset: str) -> int:
        """The account's current debt of `asset` (variable + stable), in token units."""
        token = aave("VariableDebtToken")
        a = self._asset(asset)
        outs = self.rpc.batch([("eth_call", [{"to": t, "data": token.call_data("balanceOf",
                                                                              account.lower())},
                                             "latest"])
                               for t in (a.variable_debt_token, a.stable_debt_token)])
        return sum(int(token.decode_output("balanceOf", o, 1)[0]) for o in outs)

    def liquidate(self, account: str, collateral_asset: str, debt_asset: str,
                  debt_to_cover: int | None = None, receive_a_token: bool = False) -> TxReceipt:
        """Pool.liquidationCall from the liquidator, funded with the debt token it repays.

        `debt_to_cover` in debt-token units; None repays as much as the close factor allows.
        LiquidationFailed carries Aave's error code when the pool refuses (e.g. '45').
        """
        debt = self._asset(debt_asset)
        collateral = self._asset(collateral_asset)
        needed = debt_to_cover if debt_to_cover is not None else \
            int(self.debt_of(account, debt_asset) * LIQUIDATION_MINT_MARGIN) + 1
        token = aave("MintableERC20")
        self.rpc.transact(self.liquidator, debt.address,
                          token.call_data("mint", self.liquidator, needed), f"mint {debt_asset}")
        self.rpc.transact(self.liquidator, debt.address,
                          token.call_data("approve", self.deployment.pool, MAX_UINT),
                          f"approve {debt_asset}")
        data = aave("Pool").call_data("liquidationCall", collateral.address, debt.address,
                                      account.lower(), MAX_UINT if debt_to_cover is None
                                      else debt_to_cover, receive_a_token)
        try:
            raw = self.rpc.transact(self.liquidator, self.deployment.pool, data,
                                    f"liquidationCall {account} {collateral_asset}/{debt_asset}")
        except TxFailed as exc:
            raise LiquidationFailed(exc.what, exc.reason, exc.receipt) from exc
        return self._receipt(raw)

    def snapshot(self) -> str:
        """evm_snapshot: an id to revert the chain to."""
        return str(self.rpc.call("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        """evm_revert to a snapshot (which is consumed, as anvil does)."""
        if not self.rpc.call("evm_revert", snapshot_id):
            raise DevnetError(f"evm_revert({snapshot_id}) failed: unknown or used snapshot")

    def mine(self, n: int = 1) -> int:
        """Mine `n` empty blocks; the new head."""
        self.rpc.call("anvil_mine", hex(n))
        return int(self.rpc.call("eth_blockNumber"), 16)

    def block_number(self) -> int:
        """The head block number."""
        return int(self.rpc.call("eth_blockNumber"), 16)


def start_devnet(n_accounts: int = 300, seed: int = 0, port: int | None = None,
                 log_path: Path | None = None, pools: bool = True) -> Devnet:
    """Start anvil, deploy Aave V3 and Morpho Blue, seed `n_accounts` positions, then deploy
    the Uniswap pools scaled to that book (unless not `pools`); a running Devnet."""
    devnet = Devnet(port=port, log_path=log_path).start()
    try:
        if n_accounts > 0:
            stats = devnet.seed(n_accounts, seed)
            log.info("devnet seeded %d accounts: %d transactions in %d blocks, %.2fs",
                     stats.accounts, stats.transactions, stats.blocks, stats.seconds)
        if pools:
            devnet.deploy_pools()
    except BaseException:
        devnet.stop()
        raise
    return devnet
