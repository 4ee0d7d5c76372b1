"""Synchronous JSON-RPC to a development node, batched, for deploying and driving the devnet.

Requests go straight to web3's HTTP provider (no middlewares or result formatters): one
eth_sendTransaction costs ~0.5 ms, the same call inside a batch ~0.01 ms.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from web3 import HTTPProvider
from web3.types import RPCEndpoint

from monitor.sources.evm.jsonrpc import Request, RpcError, result

RECEIPT_TIMEOUT_S = 30.0
GAS_ESTIMATE_MARGIN = 1.25  # state may move between the estimate and the block


class TxFailed(RuntimeError):
    """A transaction that reverted (or could not be sent); carries the revert reason."""

    def __init__(self, what: str, reason: str | None,
                 receipt: dict[str, Any] | None = None) -> None:
        self.what = what
        self.reason = reason
        self.receipt = receipt
        super().__init__(f"{what} reverted" + (f": {reason}" if reason else ""))


class LiquidationFailed(TxFailed):
    """A liquidation reverted; `reason` is the protocol's (Aave's error code, e.g. '45': HF not
    below 1; Morpho's message, e.g. 'position is healthy')."""


class NodeRpc:
    """JSON-RPC calls and batches to one HTTP endpoint, errors raised as RpcError."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.provider = HTTPProvider(url, request_kwargs={"timeout": timeout})

    def call(self, method: str, *params: Any) -> Any:
        """One request; its result."""
        return result(self.provider.make_request(RPCEndpoint(method), list(params)), method)

    def batch(self, calls: Sequence[Request]) -> list[Any]:
        """Many requests in one HTTP round trip; results in order, the first error raised."""
        if not calls:
            return []
        answers = self.provider.make_batch_request(
            [(RPCEndpoint(method), list(params)) for method, params in calls])
        if isinstance(answers, dict):  # the node refused the whole batch
            result(answers, "batch")
            raise RpcError(-32700, f"not a batch answer: {answers}", method="batch")
        ordered = sorted(answers, key=lambda a: int(str(a["id"])))
        return [result(answer, method)
                for (method, _), answer in zip(calls, ordered, strict=True)]

    def eth_call(self, to: str, data: str, block: int | str = "latest") -> str:
        """eth_call's hex result."""
        tag = hex(block) if isinstance(block, int) else block
        return str(self.call("eth_call", {"to": to, "data": data}, tag))

    def transact(self, sender: str, to: str | None, data: str, what: str,
                 gas: int | None = None) -> dict[str, Any]:
        """Send from an unlocked or impersonated account on an automining node; the receipt.

        Without `gas` it is estimated first, so a revert surfaces with its reason before
        anything is mined (anvil itself would mine a reverting transaction).
        """
        tx: dict[str, Any] = {"from": sender, "data": data}
        if to is not None:
            tx["to"] = to
        try:
            limit = gas if gas is not None else \
                int(int(self.call("eth_estimateGas", tx), 16) * GAS_ESTIMATE_MARGIN)
            tx_hash = self.call("eth_sendTransaction", {**tx, "gas": hex(limit)})
        except RpcError as exc:
            raise TxFailed(what, exc.reason or exc.message) from exc
        receipt = self.wait_receipt(tx_hash, what)
        if int(receipt["status"], 16) != 1:
            raise TxFailed(what, self.replay_reason(tx, int(receipt["blockNumber"], 16) - 1),
                           receipt)
        return receipt

    def replay_reason(self, tx: dict[str, Any], block: int) -> str | None:
        """Why a mined transaction reverted, replayed as a call on the state of `block`."""
        try:
            self.call("eth_call", tx, hex(block))
        except RpcError as exc:
            return exc.reason or exc.message
        return None

    def wait_receipt(self, tx_hash: str, what: str, timeout: float = RECEIPT_TIMEOUT_S
                     ) -> dict[str, Any]:
        """The receipt of a sent transaction, polled until the node has mined it."""
        deadline = time.monotonic() + timeout
        pause = 0.0005
        while True:
            receipt: dict[str, Any] | None = self.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise TxFailed(what, f"not mined within {timeout:.0f}s (is automine off?)")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
