"""The Aave V3 events the adapter follows (pool, aTokens, configurator, AaveOracle and the
Chainlink-style feeds behind it) and which accounts each pool or aToken event touches."""

from __future__ import annotations

from monitor.sources.evm.decoder import DecodedLog, event_spec, spec_table

POOL_EVENTS = tuple(event_spec(d) for d in (
    "Supply(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, "
    "uint16 indexed referralCode)",
    "Withdraw(address indexed reserve, address indexed user, address indexed to, uint256 amount)",
    "Borrow(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, "
    "uint8 interestRateMode, uint256 borrowRate, uint16 indexed referralCode)",
    "Repay(address indexed reserve, address indexed user, address indexed repayer, "
    "uint256 amount, bool useATokens)",
    "LiquidationCall(address indexed collateralAsset, address indexed debtAsset, "
    "address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, "
    "address liquidator, bool receiveAToken)",
    "ReserveUsedAsCollateralEnabled(address indexed reserve, address indexed user)",
    "ReserveUsedAsCollateralDisabled(address indexed reserve, address indexed user)",
    "UserEModeSet(address indexed user, uint8 categoryId)",
    "SwapBorrowRateMode(address indexed reserve, address indexed user, uint8 interestRateMode)",
    "RebalanceStableBorrowRate(address indexed reserve, address indexed user)",
    "MintUnbacked(address indexed reserve, address user, address indexed onBehalfOf, "
    "uint256 amount, uint16 indexed referralCode)",
))
ATOKEN_EVENTS = (event_spec(
    "BalanceTransfer(address indexed from, address indexed to, uint256 value, uint256 index)"),)
CONFIGURATOR_EVENTS = tuple(event_spec(d) for d in (
    "ReserveInitialized(address indexed asset, address indexed aToken, address stableDebtToken, "
    "address variableDebtToken, address interestRateStrategyAddress)",
    "ReserveDropped(address indexed asset)",
    "CollateralConfigurationChanged(address indexed asset, uint256 ltv, "
    "uint256 liquidationThreshold, uint256 liquidationBonus)",
    "EModeAssetCategoryChanged(address indexed asset, uint8 oldCategoryId, uint8 newCategoryId)",
    "EModeCategoryAdded(uint8 indexed categoryId, uint256 ltv, uint256 liquidationThreshold, "
    "uint256 liquidationBonus, address oracle, string label)",
))
ORACLE_EVENTS = (event_spec("AssetSourceUpdated(address indexed asset, address indexed source)"),)
AGGREGATOR_EVENTS = (event_spec(
    "AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt)"),)

ALL_EVENTS = (*POOL_EVENTS, *ATOKEN_EVENTS, *CONFIGURATOR_EVENTS, *ORACLE_EVENTS,
              *AGGREGATOR_EVENTS)
SPECS = spec_table(ALL_EVENTS)

# Pool events and the arguments naming the accounts whose position they change.
ACCOUNT_ARGS: dict[str, tuple[str, ...]] = {
    "Supply": ("onBehalfOf",), "Withdraw": ("user",), "Borrow": ("onBehalfOf",),
    "Repay": ("user",), "LiquidationCall": ("user",),
    "ReserveUsedAsCollateralEnabled": ("user",), "ReserveUsedAsCollateralDisabled": ("user",),
    "UserEModeSet": ("user",), "SwapBorrowRateMode": ("user",),
    "RebalanceStableBorrowRate": ("user",), "MintUnbacked": ("onBehalfOf",),
    "BalanceTransfer": ("from", "to"),
}
# Configurator events after which every known account's effective parameters may differ.
CONFIG_CHANGES = frozenset({"CollateralConfigurationChanged", "EModeAssetCategoryChanged",
                            "EModeCategoryAdded"})


def affected_accounts(decoded: DecodedLog) -> tuple[str, ...]:
    """The accounts whose Aave position a decoded log may change (none for non-position events)."""
    names = ACCOUNT_ARGS.get(decoded.event)
    if names is None:
        return ()
    args = decoded.args
    if decoded.event == "LiquidationCall" and args["receiveAToken"]:
        return (args["user"], args["liquidator"])
    return tuple(args[name] for name in names)
