"""Deploy the real Aave V3 protocol (@aave/core-v3 artifacts) with four reserves on a dev chain.

The order is the one the contracts require: the ACL admin before the ACLManager, the pool proxy
before the configurator, token implementations bound to the pool proxy, then reserves,
collateral parameters and borrowing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from monitor.devnet.aggregator import aggregator_artifact
from monitor.devnet.artifacts import Artifact, aave
from monitor.devnet.node_rpc import NodeRpc

ZERO: Final = "0x" + "00" * 20
RAY: Final = 10**27
USD_UNIT: Final = 10**8  # AaveOracle base currency unit: prices are 1e8 USD per whole token
MARKET_ID: Final = "Monitor Devnet Market"
LIBRARIES: Final = ("SupplyLogic", "BorrowLogic", "LiquidationLogic", "EModeLogic", "BridgeLogic",
                    "PoolLogic", "ConfiguratorLogic")


@dataclass(frozen=True)
class RateModel:
    """DefaultReserveInterestRateStrategy's slopes, as fractions (turned into rays on deploy)."""

    optimal_usage: float  # the utilisation where the steep slope starts
    slope1: float  # the borrow rate added up to it
    slope2: float  # ... and beyond it


@dataclass(frozen=True)
class ReserveParams:
    """One reserve: token, start price and risk parameters in bps (the bonus includes 100 %)."""

    symbol: str
    decimals: int
    price: float
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    reserve_factor: int
    rates: RateModel


@dataclass(frozen=True)
class EModeParams:
    """An efficiency-mode category: higher LTV/threshold among correlated assets."""

    category: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    label: str
    assets: tuple[str, ...]


RESERVES: Final = (
    ReserveParams("WETH", 18, 3000.0, 8000, 8250, 10500, 1500, RateModel(0.80, 0.033, 0.80)),
    ReserveParams("WBTC", 8, 60000.0, 7000, 7500, 10650, 2000, RateModel(0.45, 0.04, 3.00)),
    ReserveParams("LINK", 18, 15.0, 5000, 6500, 10750, 2000, RateModel(0.45, 0.07, 3.00)),
    ReserveParams("USDC", 6, 1.0, 7700, 8000, 10450, 1000, RateModel(0.90, 0.04, 0.60)),
)
ETH_EMODE: Final = EModeParams(1, 9000, 9300, 10100, "ETH correlated", ("WETH",))
LIQUIDATION_PROTOCOL_FEE: Final = 1000  # 10 % of the bonus goes to the treasury, as on mainnet


@dataclass(frozen=True)
class DeployedAsset:
    """A reserve's token, its price feed and the Aave tokens initReserves created for it."""

    symbol: str
    address: str
    decimals: int
    aggregator: str
    a_token: str
    variable_debt_token: str
    stable_debt_token: str


@dataclass(frozen=True)
class Deployment:
    """Addresses (lowercase hex) of a deployed Aave V3 market."""

    deployer: str
    deploy_block: int
    pool_addresses_provider: str
    acl_manager: str
    pool: str
    pool_configurator: str
    oracle: str
    data_provider: str
    assets: dict[str, DeployedAsset]


class Deployer:
    """Sends the deployment's transactions from one unlocked account, one block each."""

    def __init__(self, rpc: NodeRpc, account: str) -> None:
        self.rpc = rpc
        self.account = account

    def deploy(self, artifact: Artifact, *args: Any, libraries: dict[str, str] | None = None,
               label: str | None = None) -> str:
        """Create a contract; its address."""
        receipt = self.rpc.transact(self.account, None,
                                    artifact.deploy_data(*args, libraries=libraries),
                                    f"deploy {label or artifact.name}")
        return str(receipt["contractAddress"]).lower()

    def send(self, to: str, artifact: Artifact, fn: str, *args: Any) -> dict[str, Any]:
        """Call a state-changing function; the receipt."""
        return self.rpc.transact(self.account, to, artifact.call_data(fn, *args),
                                 f"{artifact.name}.{fn}")

    def read(self, to: str, artifact: Artifact, fn: str, *args: Any) -> tuple[Any, ...]:
        """Call a view function; its decoded return values."""
        out = self.rpc.eth_call(to, artifact.call_data(fn, *args))
        return artifact.decode_output(fn, out, len(args))


def price_answer(usd: float) -> int:
    """A USD price as the 8-decimal integer answer the aggregators and AaveOracle carry."""
    return round(usd * USD_UNIT)


def _rate_strategy(d: Deployer, provider: str, rates: RateModel, symbol: str) -> str:
    """A DefaultReserveInterestRateStrategy (stable borrowing stays disabled)."""
    return d.deploy(aave("DefaultReserveInterestRateStrategy"), provider,
                    int(rates.optimal_usage * RAY), 0, int(rates.slope1 * RAY),
                    int(rates.slope2 * RAY), int(0.005 * RAY), int(0.6 * RAY), int(0.01 * RAY),
                    int(0.08 * RAY), int(0.2 * RAY), label=f"rate strategy {symbol}")


def _core(d: Deployer) -> tuple[str, str, str, str]:
    """Addresses provider, ACL manager, pool proxy and configurator proxy."""
    provider_art, acl_art = aave("PoolAddressesProvider"), aave("ACLManager")
    provider = d.deploy(provider_art, MARKET_ID, d.account)
    d.send(provider, provider_art, "setACLAdmin", d.account)
    acl = d.deploy(acl_art, provider)
    d.send(provider, provider_art, "setACLManager", acl)
    d.send(acl, acl_art, "addPoolAdmin", d.account)
    d.send(acl, acl_art, "addEmergencyAdmin", d.account)
    libraries = {name: d.deploy(aave(name)) for name in LIBRARIES}
    libraries["FlashLoanLogic"] = d.deploy(aave("FlashLoanLogic"), libraries=libraries)
    pool_impl = d.deploy(aave("Pool"), provider, libraries=libraries)
    d.send(provider, provider_art, "setPoolImpl", pool_impl)
    configurator_impl = d.deploy(aave("PoolConfigurator"), libraries=libraries)
    d.send(provider, provider_art, "setPoolConfiguratorImpl", configurator_impl)
    pool = str(d.read(provider, provider_art, "getPool")[0]).lower()
    configurator = str(d.read(provider, provider_art, "getPoolConfigurator")[0]).lower()
    return provider, acl, pool, configurator


def _reserve_input(params: ReserveParams, asset: str, strategy: str, impls: tuple[str, str, str],
                   treasury: str) -> tuple[Any, ...]:
    """One ConfiguratorInputTypes.InitReserveInput."""
    s = params.symbol
    return (impls[0], impls[1], impls[2], params.decimals, strategy, asset, treasury, ZERO,
            f"Aave Devnet {s}", f"aDev{s}", f"Aave Devnet Variable Debt {s}", f"variableDebtDev{s}",
            f"Aave Devnet Stable Debt {s}", f"stableDebtDev{s}", b"")


def deploy_aave(rpc: NodeRpc, deployer: str,
                reserves: tuple[ReserveParams, ...] = RESERVES,
                emode: EModeParams | None = ETH_EMODE) -> Deployment:
    """Deploy tokens, price feeds and the Aave V3 market; every address the manifest needs."""
    d = Deployer(rpc, deployer.lower())
    deploy_block = int(rpc.call("eth_blockNumber"), 16) + 1
    tokens = {r.symbol: d.deploy(aave("MintableERC20"), f"Devnet {r.symbol}", r.symbol, r.decimals,
                                 label=f"token {r.symbol}") for r in reserves}
    feeds = {r.symbol: d.deploy(aggregator_artifact(), f"{r.symbol} / USD", price_answer(r.price),
                                label=f"aggregator {r.symbol}") for r in reserves}
    provider, acl, pool, configurator = _core(d)
    provider_art = aave("PoolAddressesProvider")
    oracle = d.deploy(aave("AaveOracle"), provider, list(tokens.values()), list(feeds.values()),
                      ZERO, ZERO, USD_UNIT)
    d.send(provider, provider_art, "setPriceOracle", oracle)
    data_provider = d.deploy(aave("AaveProtocolDataProvider"), provider)
    d.send(provider, provider_art, "setPoolDataProvider", data_provider)
    impls = (d.deploy(aave("AToken"), pool), d.deploy(aave("StableDebtToken"), pool),
             d.deploy(aave("VariableDebtToken"), pool))
    inputs = [_reserve_input(r, tokens[r.symbol],
                             _rate_strategy(d, provider, r.rates, r.symbol), impls, deployer)
              for r in reserves]
    conf = aave("PoolConfigurator")
    d.send(configurator, conf, "initReserves", inputs)
    for r in reserves:
        d.send(configurator, conf, "configureReserveAsCollateral", tokens[r.symbol], r.ltv,
               r.liquidation_threshold, r.liquidation_bonus)
        d.send(configurator, conf, "setReserveBorrowing", tokens[r.symbol], True)
        d.send(configurator, conf, "setReserveFactor", tokens[r.symbol], r.reserve_factor)
        d.send(configurator, conf, "setLiquidationProtocolFee", tokens[r.symbol],
               LIQUIDATION_PROTOCOL_FEE)
    if emode is not None:
        set_emode_category(d, configurator, emode, emode.ltv)
        for symbol in emode.assets:
            d.send(configurator, conf, "setAssetEModeCategory", tokens[symbol], emode.category)
    data_art = aave("AaveProtocolDataProvider")
    assets = {}
    for r in reserves:
        a_token, stable, variable = d.read(data_provider, data_art, "getReserveTokensAddresses",
                                           tokens[r.symbol])
        assets[r.symbol] = DeployedAsset(r.symbol, tokens[r.symbol], r.decimals, feeds[r.symbol],
                                         str(a_token).lower(), str(variable).lower(),
                                         str(stable).lower())
    return Deployment(d.account, deploy_block, provider, acl, pool, configurator, oracle,
                      data_provider, assets)


def set_emode_category(d: Deployer, configurator: str, emode: EModeParams, ltv: int) -> None:
    """(Re)define the eMode category with the given LTV (seeding raises it for a while)."""
    d.send(configurator, aave("PoolConfigurator"), "setEModeCategory", emode.category, ltv,
           emode.liquidation_threshold, emode.liquidation_bonus, ZERO, emode.label)
