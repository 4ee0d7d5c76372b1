"""Morpho Blue's events (EventsLib, as Morpho.sol emits them) and which (market, account)
position each one changes.

Only position events and CreateMarket are fetched: Supply and Withdraw move supply shares, which
Morpho never counts as collateral, and AccrueInterest moves no share (positions are read with
interest accrued to their block, as the contract would accrue it). All nine are decoded by SPECS.
"""

from __future__ import annotations

from typing import Final

from monitor.sources.evm.decoder import DecodedLog, event_spec, spec_table

EVENTS: Final = tuple(event_spec(d) for d in (
    "CreateMarket(bytes32 indexed id, (address loanToken, address collateralToken, "
    "address oracle, address irm, uint256 lltv) marketParams)",
    "Supply(bytes32 indexed id, address indexed caller, address indexed onBehalf, "
    "uint256 assets, uint256 shares)",
    "Withdraw(bytes32 indexed id, address caller, address indexed onBehalf, "
    "address indexed receiver, uint256 assets, uint256 shares)",
    "Borrow(bytes32 indexed id, address caller, address indexed onBehalf, "
    "address indexed receiver, uint256 assets, uint256 shares)",
    "Repay(bytes32 indexed id, address indexed caller, address indexed onBehalf, "
    "uint256 assets, uint256 shares)",
    "SupplyCollateral(bytes32 indexed id, address indexed caller, address indexed onBehalf, "
    "uint256 assets)",
    "WithdrawCollateral(bytes32 indexed id, address caller, address indexed onBehalf, "
    "address indexed receiver, uint256 assets)",
    "Liquidate(bytes32 indexed id, address indexed caller, address indexed borrower, "
    "uint256 repaidAssets, uint256 repaidShares, uint256 seizedAssets, uint256 badDebtAssets, "
    "uint256 badDebtShares)",
    "AccrueInterest(bytes32 indexed id, uint256 prevBorrowRate, uint256 interest, "
    "uint256 feeShares)",
))
SPECS: Final = spec_table(EVENTS)

# Position events and the argument naming the account whose collateral or borrow they change.
POSITION_ACCOUNT: Final = {"Borrow": "onBehalf", "Repay": "onBehalf",
                           "SupplyCollateral": "onBehalf", "WithdrawCollateral": "onBehalf",
                           "Liquidate": "borrower"}
ROUTED: Final = spec_table(spec for spec in EVENTS
                           if spec.name in POSITION_ACCOUNT or spec.name == "CreateMarket")


def touched_position(decoded: DecodedLog) -> tuple[str, str] | None:
    """(market id, account) whose position a decoded log changes (None for other events)."""
    arg = POSITION_ACCOUNT.get(decoded.event)
    return None if arg is None else (decoded.args["id"], decoded.args[arg])
