"""Deploy Morpho Blue beside Aave V3 on the devnet: the contract compiled with solc-js 0.8.19 from
npm @morpho-org/morpho-blue's sources (it ships no bytecode), the IrmMock, one OracleMock per
market following Aave's aggregators, and markets on Aave's own tokens (WETH/USDC and WBTC/USDC
at LLTV 86 %, LINK/USDC at 77 %), so both protocols share collateral and prices."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from monitor.devnet.aave_deploy import Deployer, Deployment
from monitor.devnet.artifacts import Artifact, ArtifactError, node_modules
from monitor.devnet.node_rpc import NodeRpc
from monitor.devnet.solc import compile_contracts
from monitor.risk.morpho_blue import WAD, price_exponent
from monitor.sources.morpho_blue.markets import MarketParams

PACKAGE: Final = "@morpho-org/morpho-blue"
SOLC: Final = "solc-0.8.19"  # the release Morpho.sol pins (pragma solidity 0.8.19)
# the repository's own profile (999,999 runs) without via-IR, which solc-js compiles in seconds
SETTINGS: Final[dict[str, Any]] = {"optimizer": {"enabled": True, "runs": 999_999},
                                   "evmVersion": "paris"}
CONTRACTS: Final = (("src/Morpho.sol", "Morpho"), ("src/mocks/OracleMock.sol", "OracleMock"),
                    ("src/mocks/IrmMock.sol", "IrmMock"),
                    ("src/libraries/EventsLib.sol", "EventsLib"))  # events: Morpho's ABI has none


@dataclass(frozen=True)
class MarketSpec:
    """A market to create: collateral and loan reserve symbols and LLTV."""

    collateral: str
    loan: str
    lltv: float

    @property
    def name(self) -> str:
        """'WETH/USDC'."""
        return f"{self.collateral}/{self.loan}"


MARKETS: Final = (MarketSpec("WETH", "USDC", 0.86), MarketSpec("WBTC", "USDC", 0.86),
                  MarketSpec("LINK", "USDC", 0.77))


@dataclass(frozen=True)
class DeployedMarket:
    """A created market: its spec, id, params and oracle."""

    spec: MarketSpec
    id: str  # keccak256 of the ABI-encoded params, as Morpho names the market
    params: MarketParams


@dataclass(frozen=True)
class MorphoDeployment:
    """Addresses (lowercase hex) of the devnet's Morpho Blue and its markets by name."""

    address: str
    irm: str  # the IrmMock every market uses
    deploy_block: int  # no CreateMarket log is older
    markets: dict[str, DeployedMarket]


@functools.cache
def morpho_artifacts() -> dict[str, Artifact]:
    """Morpho, OracleMock, IrmMock and EventsLib compiled from the npm sources (cached)."""
    src = node_modules() / PACKAGE / "src"
    if not (src / "Morpho.sol").is_file():
        raise ArtifactError(f"{PACKAGE} not found under {node_modules()}: run `npm install` in "
                            "the repository root")
    sources = {f"src/{p.relative_to(src).as_posix()}": p.read_text()
               for p in sorted(src.rglob("*.sol"))}
    return compile_contracts(sources, CONTRACTS, SOLC, SETTINGS)


def oracle_price(collateral_answer: int, loan_answer: int, collateral_decimals: int,
                 loan_decimals: int) -> int:
    """A Chainlink-ratio oracle's price() from two 8-decimal feed answers: the collateral in
    loan-token base units, scaled 1e36, rounded down (as Morpho's Chainlink oracles compute it)."""
    return int(collateral_answer * 10 ** price_exponent(collateral_decimals, loan_decimals)
               // loan_answer)


def market_oracle_price(market: DeployedMarket, answers: Mapping[str, int],
                        aave: Deployment) -> int:
    """The price a market's oracle must show for the aggregators' `answers` (1e8 USD)."""
    spec, assets = market.spec, aave.assets
    return oracle_price(answers[spec.collateral], answers[spec.loan],
                        assets[spec.collateral].decimals, assets[spec.loan].decimals)


def deploy_morpho(rpc: NodeRpc, deployer: str, aave: Deployment, answers: Mapping[str, int],
                  markets: tuple[MarketSpec, ...] = MARKETS) -> MorphoDeployment:
    """Deploy Morpho Blue, its IRM, an oracle per market at the aggregators' `answers`, and
    create the markets on Aave's tokens."""
    art = morpho_artifacts()
    d = Deployer(rpc, deployer.lower())
    deploy_block = int(rpc.call("eth_blockNumber"), 16) + 1
    morpho = d.deploy(art["Morpho"], d.account)
    irm = d.deploy(art["IrmMock"])
    d.send(morpho, art["Morpho"], "enableIrm", irm)
    for lltv in sorted({round(m.lltv * WAD) for m in markets}):
        d.send(morpho, art["Morpho"], "enableLltv", lltv)
    created = {}
    for spec in markets:
        oracle = d.deploy(art["OracleMock"], label=f"oracle {spec.name}")
        params = MarketParams(aave.assets[spec.loan].address, aave.assets[spec.collateral].address,
                              oracle, irm, round(spec.lltv * WAD))
        market = DeployedMarket(spec, params.id(), params)
        d.send(oracle, art["OracleMock"], "setPrice", market_oracle_price(market, answers, aave))
        d.send(morpho, art["Morpho"], "createMarket", params.words())
        created[spec.name] = market
    return MorphoDeployment(morpho, irm, deploy_block, created)
