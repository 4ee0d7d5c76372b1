"""Transactions sent many per block on the devnet: batched eth_sendTransaction with explicit
nonces and gas limits from unlocked or impersonated accounts, automine off, mined until the pool
is empty, every receipt checked. Seeding opens hundreds of positions this way in a few blocks,
and a price step moves every oracle it concerns in one block."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

from monitor.devnet.node_rpc import NodeRpc
from monitor.sources.evm.jsonrpc import RpcError

MAX_MINES_PER_STEP: Final = 50


class SeedError(RuntimeError):
    """A batched transaction failed; the message names the account, the call and the reason."""


@dataclass(frozen=True)
class Tx:
    """A transaction to send with an explicit gas limit (no estimate against pending state)."""

    sender: str
    to: str
    data: str
    gas: int
    what: str


@dataclass
class SeedStats:
    """What a seeding run did, for progress lines and benchmarks."""

    accounts: int = 0
    transactions: int = 0
    blocks: int = 0
    seconds: float = 0.0
    gas_used: dict[str, int] = field(default_factory=dict)  # highest gas used per call kind


class Batches:
    """A context in which steps of transactions are mined together; automine (and the
    impersonation of any sender) is switched back on at its end."""

    def __init__(self, rpc: NodeRpc, stats: SeedStats | None = None) -> None:
        self.rpc = rpc
        self.stats = stats or SeedStats()
        self.nonces: dict[str, int] = {}

    def __enter__(self) -> Batches:
        """Impersonate every sender; stop mining on each transaction."""
        self.rpc.call("anvil_autoImpersonateAccount", True)
        self.rpc.call("evm_setAutomine", False)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Back to automine, impersonation off."""
        self.rpc.call("evm_setAutomine", True)
        self.rpc.call("anvil_autoImpersonateAccount", False)

    def step(self, txs: Sequence[Tx]) -> list[dict[str, Any]]:
        """Send `txs` in one batch, mine until the pool is empty, check every receipt; the
        receipts in order (SeedError on the first failure)."""
        if not txs:
            return []
        senders = sorted({tx.sender for tx in txs} - self.nonces.keys())
        counts = self.rpc.batch([("eth_getTransactionCount", [s, "pending"]) for s in senders])
        self.nonces.update({s: int(c, 16) for s, c in zip(senders, counts, strict=True)})
        requests = []
        for tx in txs:
            nonce = self.nonces[tx.sender]
            self.nonces[tx.sender] = nonce + 1
            requests.append(("eth_sendTransaction", [{"from": tx.sender, "to": tx.to,
                                                      "data": tx.data, "gas": hex(tx.gas),
                                                      "nonce": hex(nonce)}]))
        try:
            hashes = self.rpc.batch(requests)
        except RpcError as exc:
            raise SeedError(f"the node refused a seeding transaction: {exc}") from exc
        self._mine_all()
        receipts = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        self.stats.transactions += len(txs)
        for tx, receipt in zip(txs, receipts, strict=True):
            if receipt is None or int(receipt["status"], 16) != 1:
                raise SeedError(f"{tx.what} failed: {self._reason(tx, receipt)}")
            kind = tx.what.split(" ", 1)[0]
            self.stats.gas_used[kind] = max(self.stats.gas_used.get(kind, 0),
                                            int(receipt["gasUsed"], 16))
        return list(receipts)

    def _mine_all(self) -> None:
        """Mine blocks until no transaction is pending."""
        for _ in range(MAX_MINES_PER_STEP):
            self.rpc.call("evm_mine")
            self.stats.blocks += 1
            status = self.rpc.call("txpool_status")
            if int(status["pending"], 16) + int(status["queued"], 16) == 0:
                return
        raise SeedError(f"transactions still pending after {MAX_MINES_PER_STEP} blocks")

    def _reason(self, tx: Tx, receipt: dict[str, Any] | None) -> str:
        """Why a batched transaction failed: replayed on the state before its block."""
        if receipt is None:
            return "not mined"
        block = int(receipt["blockNumber"], 16)
        call = {"from": tx.sender, "to": tx.to, "data": tx.data, "gas": hex(tx.gas)}
        reason = self.rpc.replay_reason(call, block - 1)
        return reason or f"reverted in block {block} (a replay on the block before succeeds)"
