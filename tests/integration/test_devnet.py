"""The devnet against its own contracts: real Aave V3 deployed as configured, seeded accounts
healthy but near 1, oracle moves through the aggregators, liquidation exactly when HF < 1, and
`monitor devnet` end to end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from monitor.devnet.aave_deploy import ETH_EMODE, RESERVES
from monitor.devnet.aggregator import aggregator_artifact
from monitor.devnet.anvil import AnvilProcess
from monitor.devnet.artifacts import aave
from monitor.devnet.devnet import Devnet
from monitor.devnet.node_rpc import LiquidationFailed

pytestmark = pytest.mark.integration

WAD = 10**18
MANIFEST_KEYS = {"rpc_url", "ws_url", "chain_id", "deploy_block", "pool",
                 "pool_addresses_provider", "oracle", "data_provider", "pool_configurator",
                 "acl_manager", "assets", "accounts", "liquidator", "morpho_blue", "uniswap_v2"}
ASSET_KEYS = {"address", "decimals", "aggregator", "a_token", "variable_debt_token",
              "stable_debt_token", "price"}


def contract(devnet: Devnet, name: str, address: str) -> Contract:
    """A web3 contract of an @aave/core-v3 artifact (an independent decoder of our codec)."""
    return devnet.w3.eth.contract(address=Web3.to_checksum_address(address), abi=aave(name).abi)


def test_manifest_describes_the_deployed_market(devnet: Devnet) -> None:
    m = devnet.manifest
    assert set(m) == MANIFEST_KEYS
    assert m["chain_id"] == 31337 == devnet.w3.eth.chain_id
    assert set(m["assets"]) == {"WETH", "WBTC", "LINK", "USDC"}
    assert all(set(spec) == ASSET_KEYS for spec in m["assets"].values())
    assert len(m["accounts"]) == 300 == len(set(m["accounts"]))
    assert all(a == a.lower() and a.startswith("0x") for a in m["accounts"])
    provider = contract(devnet, "PoolAddressesProvider", m["pool_addresses_provider"])
    assert provider.functions.getPool().call().lower() == m["pool"]
    assert provider.functions.getPriceOracle().call().lower() == m["oracle"]
    assert provider.functions.getPoolDataProvider().call().lower() == m["data_provider"]
    assert provider.functions.getPoolConfigurator().call().lower() == m["pool_configurator"]
    assert provider.functions.getACLManager().call().lower() == m["acl_manager"]
    pool = contract(devnet, "Pool", m["pool"])
    assert {a.lower() for a in pool.functions.getReservesList().call()} == \
        {spec["address"] for spec in m["assets"].values()}


def test_reserves_carry_the_configured_risk_parameters(devnet: Devnet) -> None:
    m = devnet.manifest
    data = contract(devnet, "AaveProtocolDataProvider", m["data_provider"])
    oracle = contract(devnet, "AaveOracle", m["oracle"])
    for r in RESERVES:
        spec = m["assets"][r.symbol]
        asset = Web3.to_checksum_address(spec["address"])
        (decimals, ltv, threshold, bonus, _factor, collateral, borrowing, stable, active,
         frozen) = data.functions.getReserveConfigurationData(asset).call()
        assert (decimals, ltv, threshold, bonus) == (r.decimals, r.ltv, r.liquidation_threshold,
                                                     r.liquidation_bonus) == \
            (spec["decimals"], r.ltv, r.liquidation_threshold, r.liquidation_bonus)
        assert (collateral, borrowing, stable, active, frozen) == (True, True, False, True, False)
        a_token, stable_token, variable = data.functions.getReserveTokensAddresses(asset).call()
        assert (a_token.lower(), stable_token.lower(), variable.lower()) == \
            (spec["a_token"], spec["stable_debt_token"], spec["variable_debt_token"])
        assert oracle.functions.getSourceOfAsset(asset).call().lower() == spec["aggregator"]
        assert oracle.functions.getAssetPrice(asset).call() == round(spec["price"] * 1e8)
    pool = contract(devnet, "Pool", m["pool"])
    category = pool.functions.getEModeCategoryData(ETH_EMODE.category).call()
    assert category[:3] == (ETH_EMODE.ltv, ETH_EMODE.liquidation_threshold,
                            ETH_EMODE.liquidation_bonus)


def test_every_seeded_account_is_healthy_and_most_sit_just_above_one(devnet: Devnet) -> None:
    data = devnet.account_data()
    assert data.keys() == set(devnet.accounts)
    pool = contract(devnet, "Pool", devnet.manifest["pool"])
    for account in devnet.accounts[:5]:  # the batch read agrees with web3's decoding
        assert tuple(data[account]) == tuple(pool.functions.getUserAccountData(
            Web3.to_checksum_address(account)).call())
    factors = sorted(d.health_factor / WAD for d in data.values())
    assert all(d.total_collateral_base > 0 and d.total_debt_base > 0 for d in data.values())
    assert factors[0] > 1.0
    assert factors[-1] < 2.01
    assert factors[len(factors) // 2] < 1.3  # concentrated just above 1


def test_seeded_positions_are_varied(devnet: Devnet) -> None:
    m = devnet.manifest
    pool = contract(devnet, "Pool", m["pool"])
    data = contract(devnet, "AaveProtocolDataProvider", m["data_provider"])
    collateral_counts, debt_assets, emode = set(), set(), 0
    for account in devnet.accounts[:60]:
        who = Web3.to_checksum_address(account)
        held, owed = 0, set()
        for name, spec in m["assets"].items():
            reserve = data.functions.getUserReserveData(
                Web3.to_checksum_address(spec["address"]), who).call()
            held += bool(reserve[0] and reserve[8])  # aToken balance used as collateral
            if reserve[2]:  # variable debt
                owed.add(name)
        collateral_counts.add(held)
        debt_assets.add(frozenset(owed))
        emode += pool.functions.getUserEMode(who).call() == ETH_EMODE.category
    assert {1, 2} <= collateral_counts
    assert {frozenset({"USDC"}), frozenset({"WETH"})} <= debt_assets
    assert any(len(owed) > 1 for owed in debt_assets)
    assert emode > 0


def test_set_price_moves_the_aave_oracle_and_emits_answer_updated(clean_devnet: Devnet) -> None:
    devnet = clean_devnet
    m = devnet.manifest
    head = devnet.block_number()
    receipt = devnet.set_price("WBTC", 51234.56789012)
    assert receipt["status"] == 1 and receipt["blockNumber"] == head + 1
    oracle = contract(devnet, "AaveOracle", m["oracle"])
    asset = Web3.to_checksum_address(m["assets"]["WBTC"]["address"])
    assert oracle.functions.getAssetPrice(asset).call() == 5123456789012
    assert devnet.price("WBTC") == 51234.56789012 == devnet.manifest["assets"]["WBTC"]["price"]
    feed = devnet.w3.eth.contract(address=Web3.to_checksum_address(m["assets"]["WBTC"]
                                                                    ["aggregator"]),
                                  abi=aggregator_artifact().abi)
    updated = feed.events.AnswerUpdated().process_receipt(receipt, errors=DISCARD)
    rounds = feed.events.NewRound().process_receipt(receipt, errors=DISCARD)
    assert [e["args"]["current"] for e in updated] == [5123456789012]
    assert updated[0]["args"]["roundId"] == rounds[0]["args"]["roundId"] == \
        feed.functions.latestRound().call() == 2  # round 1 is the deployment's answer
    assert feed.functions.latestRoundData().call()[1] == 5123456789012
    assert oracle.functions.getAssetPrice(
        Web3.to_checksum_address(m["assets"]["WETH"]["address"])).call() == 3000 * 10**8


def _single_weth_borrower(devnet: Devnet) -> tuple[str, int]:
    """A seeded account holding only WETH collateral against only USDC debt, and its HF."""
    m = devnet.manifest
    data = contract(devnet, "AaveProtocolDataProvider", m["data_provider"])
    for account, state in devnet.account_data().items():
        who = Web3.to_checksum_address(account)
        legs = {name: data.functions.getUserReserveData(
            Web3.to_checksum_address(spec["address"]), who).call()
            for name, spec in m["assets"].items()}
        collateral = {n for n, r in legs.items() if r[0]}
        debt = {n for n, r in legs.items() if r[2]}
        if collateral == {"WETH"} and debt == {"USDC"} and state.health_factor < 1.5 * WAD:
            return account, state.health_factor
    raise AssertionError("no single-collateral WETH/USDC borrower was seeded")


def test_liquidation_succeeds_only_below_health_factor_one(clean_devnet: Devnet) -> None:
    devnet = clean_devnet
    account, hf = _single_weth_borrower(devnet)
    with pytest.raises(LiquidationFailed) as refused:
        devnet.liquidate(account, "WETH", "USDC")
    assert refused.value.reason == "45"  # HEALTH_FACTOR_NOT_BELOW_THRESHOLD

    weth = devnet.price("WETH")
    devnet.set_price("WETH", weth * 1.001 * WAD / hf)  # HF ∝ WETH price: just above 1
    assert devnet.user_account_data(account).health_factor > WAD
    with pytest.raises(LiquidationFailed, match="45"):
        devnet.liquidate(account, "WETH", "USDC")

    devnet.set_price("WETH", weth * 0.99 * WAD / hf)
    before = devnet.user_account_data(account)
    assert before.health_factor < WAD
    debt_before = devnet.debt_of(account, "USDC")
    receipt = devnet.liquidate(account, "WETH", "USDC")
    assert receipt["status"] == 1
    pool = contract(devnet, "Pool", devnet.manifest["pool"])
    [event] = pool.events.LiquidationCall().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["user"].lower() == account
    assert event["args"]["liquidator"].lower() == devnet.manifest["liquidator"]
    repaid = event["args"]["debtToCover"]
    assert 0 < repaid <= debt_before
    assert devnet.debt_of(account, "USDC") == pytest.approx(debt_before - repaid, rel=1e-6)
    assert devnet.user_account_data(account).total_debt_base < before.total_debt_base


def test_snapshot_and_revert_restore_prices_and_head(clean_devnet: Devnet) -> None:
    devnet = clean_devnet
    head, price = devnet.block_number(), devnet.price("LINK")
    snapshot = devnet.snapshot()
    devnet.set_price("LINK", price * 2)
    assert devnet.mine(3) == head + 4
    devnet.revert(snapshot)
    assert (devnet.block_number(), devnet.price("LINK")) == (head, price)


class Lines:
    """A subprocess's stdout lines, collected by a thread so the test can wait with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        """Keep every line until the stream closes."""
        assert process.stdout is not None
        self.lines.extend(process.stdout)

    def wait_for(self, text: str, timeout: float) -> None:
        """Block until a line contains `text`."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None:
                err = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"exited {self.process.returncode}: {self.lines} {err}")
            assert time.monotonic() < deadline, f"no {text!r} in {self.lines}"
            time.sleep(0.05)


def test_cli_writes_the_manifest_drives_prices_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    manifest_path = tmp_path / "devnet.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "devnet", "--accounts", "20", "--manifest",
         str(manifest_path), "--drive", "crash-2020-03-12", "--steps", "4", "--interval", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = Lines(process)
    try:
        out.wait_for("Ctrl-C to stop", 60)
        manifest = json.loads(manifest_path.read_text())
        assert len(manifest["accounts"]) == 20
        w3 = Web3(Web3.HTTPProvider(manifest["rpc_url"]))
        oracle = w3.eth.contract(address=Web3.to_checksum_address(manifest["oracle"]),
                                 abi=aave("AaveOracle").abi)
        weth = Web3.to_checksum_address(manifest["assets"]["WETH"]["address"])
        assert oracle.functions.getAssetPrice(weth).call() < 3000 * 10**8  # the crash ran
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        out.thread.join(5)
    assert process.stderr is not None
    assert process.returncode == 0, process.stderr.read()
    text = "".join(out.lines)
    assert f"manifest: {manifest_path}" in text
    assert "step 4/4" in text and "stopped" in text
    port = int(manifest["rpc_url"].rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):  # anvil is gone
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_a_killed_anvil_leaves_no_state_cache_behind(tmp_path: Path) -> None:
    """anvil pages old states out to disk (gigabytes over a long cascade) and leaves them when it
    does not exit cleanly; the devnet gives it a cache of its own and removes it on stop, and
    ends its whole process group (npm's `anvil` is a Node wrapper around the binary)."""
    anvil = AnvilProcess(log_path=tmp_path / "anvil.log")
    rpc = anvil.start()
    rpc.call("anvil_mine", hex(200))
    states = anvil.states
    assert states is not None and states.is_dir()
    assert anvil.process is not None
    anvil.process.kill()  # a crash: anvil cleans nothing up (npm's wrapper dies, not its child)
    anvil.process.wait()
    anvil.stop()
    assert not states.exists()
    with pytest.raises(OSError):  # and nothing of it still serves its port
        socket.create_connection((anvil.host, anvil.port), timeout=2).close()
