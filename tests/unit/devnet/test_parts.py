"""Devnet building blocks without a chain: position plans, artifact linking, revert reasons and
the errors that tell a user to run `npm install`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from eth_abi.abi import encode

from monitor.devnet.aave_deploy import ETH_EMODE, RESERVES
from monitor.devnet.anvil import AnvilError, anvil_binary
from monitor.devnet.artifacts import ArtifactError, aave, node_modules
from monitor.devnet.position_plans import HF_HIGH, HF_LOW, KINDS, account_address, plan_positions
from monitor.sources.evm.jsonrpc import ERROR_SELECTOR, PANIC_SELECTOR, revert_reason

PARAMS = {r.symbol: r for r in RESERVES}


def planned_health_factor(plan_collateral: dict[str, int], plan_debt: dict[str, int],
                          emode: int) -> float:
    """HF of a plan at the reserves' start prices (Σ collateral·LT / Σ debt, in floats)."""
    def usd(symbol: str, units: int) -> float:
        """A leg's USD value."""
        return float(units / 10 ** PARAMS[symbol].decimals * PARAMS[symbol].price)

    lt = {s: (ETH_EMODE.liquidation_threshold if emode else PARAMS[s].liquidation_threshold)
          / 1e4 for s in plan_collateral}
    collateral = sum(usd(s, u) * lt[s] for s, u in plan_collateral.items())
    return collateral / sum(usd(s, u) for s, u in plan_debt.items())


def test_plans_are_deterministic_in_the_seed_and_the_index() -> None:
    assert plan_positions(50, seed=7) == plan_positions(50, seed=7)
    assert plan_positions(50, seed=7) != plan_positions(50, seed=8)
    more = plan_positions(10, seed=7, first_index=50)
    assert {p.account for p in more}.isdisjoint(p.account for p in plan_positions(50, seed=7))


def test_plans_hit_their_target_health_factor_within_the_band() -> None:
    plans = plan_positions(300, seed=0)
    for plan in plans:
        assert HF_LOW <= plan.target_health_factor <= HF_HIGH
        hf = planned_health_factor(plan.collateral, plan.debt, plan.emode)
        assert hf == pytest.approx(plan.target_health_factor, rel=1e-4)
    targets = sorted(p.target_health_factor for p in plans)
    assert targets[len(targets) // 2] < 1.3


def test_plans_mix_every_kind_of_position() -> None:
    plans = plan_positions(300, seed=0)
    assert set(Counter(p.kind for p in plans)) == {kind for kind, _ in KINDS}
    loops = [p for p in plans if p.kind == "loop"]
    assert all(p.emode == ETH_EMODE.category and set(p.collateral) == set(p.debt) == {"WETH"}
               for p in loops)
    assert all(p.emode == 0 for p in plans if p.kind != "loop")
    assert any(len(p.collateral) == 3 for p in plans)
    assert any(set(p.debt) == {"WBTC"} for p in plans)


def test_account_addresses_are_lowercase_and_distinct() -> None:
    addresses = [account_address(0, i) for i in range(1000)]
    assert len(set(addresses)) == 1000
    assert all(len(a) == 42 and a == a.lower() and a.startswith("0x") for a in addresses)
    assert account_address(1, 0) != account_address(0, 0)


def test_pool_bytecode_links_every_library_at_its_offsets() -> None:
    pool = aave("Pool")
    libraries = {name: f"0x{i:040x}" for i, name in enumerate(
        ("SupplyLogic", "BorrowLogic", "LiquidationLogic", "EModeLogic", "BridgeLogic",
         "PoolLogic", "FlashLoanLogic"), start=1)}
    code = pool.linked(libraries)
    assert "__$" not in code and len(code) == len(pool.bytecode)
    for refs in pool.link_references.values():
        for name, spots in refs.items():
            for spot in spots:
                start = 2 + 2 * spot["start"]
                assert code[start:start + 40] == libraries[name][2:]


def test_linking_without_a_library_names_it() -> None:
    with pytest.raises(ArtifactError, match="needs library BorrowLogic"):
        aave("FlashLoanLogic").linked({"SupplyLogic": "0x" + "11" * 20})


def test_call_data_round_trips_through_the_abi() -> None:
    pool = aave("Pool")
    data = pool.call_data("getUserAccountData", "0x" + "ab" * 20)
    assert data.startswith("0xbf92857c") and data.endswith("ab" * 20)
    out = "0x" + encode(["uint256"] * 6, [1, 2, 3, 4, 5, 6]).hex()
    assert pool.decode_output("getUserAccountData", out, 1) == (1, 2, 3, 4, 5, 6)


def test_revert_reasons_decode_error_strings_and_panics() -> None:
    error = ERROR_SELECTOR + encode(["string"], ["45"]).hex()
    assert revert_reason("execution reverted", error) == "45"
    assert revert_reason("execution reverted", PANIC_SELECTOR + f"{0x11:064x}") == "panic 0x11"
    assert revert_reason("execution reverted: 35", None) == "35"
    assert revert_reason("nonce too low", None) is None


def test_a_missing_anvil_says_what_to_do(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setenv("MONITOR_ANVIL", str(tmp_path / "no-anvil"))
    with pytest.raises(AnvilError, match="MONITOR_ANVIL"):
        anvil_binary()


def test_missing_npm_packages_say_to_run_npm_install(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("MONITOR_NODE_MODULES", str(tmp_path))
    with pytest.raises(ArtifactError, match="npm install"):
        node_modules()
