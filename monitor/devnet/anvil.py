"""An Anvil process on a loopback port: the local chain that tests and `monitor devnet` run on."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from monitor.devnet.artifacts import REPO_ROOT
from monitor.devnet.node_rpc import NodeRpc
from monitor.localhost import LoopbackProcess
from monitor.sources.evm.jsonrpc import RpcError

CHAIN_ID = 31337
DEV_ACCOUNTS = 10  # deployer, liquidity provider, liquidator and spares; seeded accounts are
# impersonated, so their number does not grow anvil's key derivation at start
DEV_BALANCE_ETH = 1_000_000
BLOCK_GAS_LIMIT = 60_000_000


class AnvilError(RuntimeError):
    """Anvil is missing or did not come up."""


def anvil_binary() -> Path:
    """$MONITOR_ANVIL, else node_modules/.bin/anvil of the repo or cwd, else `anvil` on PATH."""
    override = os.environ.get("MONITOR_ANVIL")
    if override:
        if not os.access(override, os.X_OK):
            raise AnvilError(f"MONITOR_ANVIL={override} is not an executable")
        return Path(override)
    for root in (REPO_ROOT, Path.cwd()):
        candidate = root / "node_modules" / ".bin" / "anvil"
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise AnvilError(f"anvil not found: run `npm install` in the repository root ({REPO_ROOT}) "
                     "to get @foundry-rs/anvil, or set MONITOR_ANVIL to an anvil binary")


@dataclass
class AnvilProcess(LoopbackProcess):
    """One anvil child process; start() waits until it answers JSON-RPC, stop() ends it."""

    states: Path | None = None  # where anvil pages out old states (gigabytes on long chains)
    _log: IO[bytes] | None = None

    @property
    def rpc_url(self) -> str:
        """HTTP JSON-RPC endpoint."""
        return f"http://{self.address}"

    @property
    def ws_url(self) -> str:
        """WebSocket JSON-RPC endpoint (anvil serves both on one port)."""
        return f"ws://{self.address}"

    def start(self, timeout: float = 30.0) -> NodeRpc:
        """Spawn anvil and wait for its first JSON-RPC answer; a client bound to it."""
        cmd = [str(anvil_binary()), "--host", self.host, "--port", str(self.port),
               "--chain-id", str(CHAIN_ID), "--accounts", str(DEV_ACCOUNTS),
               "--balance", str(DEV_BALANCE_ETH), "--gas-limit", str(BLOCK_GAS_LIMIT)]
        # anvil's default state cache (~/.foundry/anvil/tmp) outlives a killed or crashed anvil
        self.states = Path(tempfile.mkdtemp(prefix="anvil-states-"))
        cmd += ["--cache-path", str(self.states)]
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        out = self._log or subprocess.DEVNULL
        # its own process group: npm's `anvil` is a Node wrapper that spawns the real binary,
        # which a kill of the wrapper alone would leave running
        self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        rpc = NodeRpc(self.rpc_url)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self.stop()
                raise AnvilError(f"anvil exited with {self.process.returncode} at start"
                                 + (f"; see {self.log_path}" if self.log_path else ""))
            try:
                if int(rpc.call("eth_chainId"), 16) == CHAIN_ID:
                    return rpc
            except (OSError, RpcError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AnvilError(f"anvil did not answer on {self.rpc_url} within {timeout:.0f}s")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate anvil's process group (kill what lingers, even when the wrapper that led
        it is already gone), remove its state cache, close its log."""
        if self.process is not None:
            _signal_group(self.process.pid, signal.SIGTERM)
            if not self._group_gone(timeout):
                _signal_group(self.process.pid, signal.SIGKILL)
                self._group_gone(timeout)
        if self.states is not None:
            shutil.rmtree(self.states, ignore_errors=True)
            self.states = None
        if self._log is not None:
            self._log.close()
            self._log = None


    def _group_gone(self, timeout: float) -> bool:
        """Wait until no process of anvil's group is left (True) or `timeout` passes (False);
        the wrapper is reaped here, the binary it orphaned by init."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            self.process.poll()
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def _signal_group(group: int, signum: signal.Signals) -> None:
    """Send `signum` to every process left in a process group (none left is fine)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)
