"""The JSON-RPC wire shared by the async follower client and the devnet's sync client: error
answers as one RpcError (with the decoded revert reason), results, and eth_call requests pinned
to a block."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError

ERROR_SELECTOR: Final = "0x08c379a0"  # Error(string)
PANIC_SELECTOR: Final = "0x4e487b71"  # Panic(uint256)
REVERTED: Final = "execution reverted: "
RATE_LIMIT_HINTS: Final = ("rate limit", "too many requests", "capacity", "throttl",
                           "try again later", "busy", "request count", "compute units")

BlockRef = str | dict[str, str]  # EIP-1898: a tag or hex number, or {"blockHash": ...}
Request = tuple[str, Sequence[Any]]  # (method, params)


def revert_reason(message: str, data: Any) -> str | None:
    """The reason of Error(string) / Panic(uint256) revert data, else what the message says."""
    try:
        if isinstance(data, str) and data.startswith(ERROR_SELECTOR):
            return str(decode(["string"], bytes.fromhex(data[10:]))[0])
        if isinstance(data, str) and data.startswith(PANIC_SELECTOR):
            return f"panic 0x{int(data[10:], 16):02x}"
    except (DecodingError, ValueError):
        pass
    return message.removeprefix(REVERTED) if message.startswith(REVERTED) else None


class RpcError(RuntimeError):
    """A JSON-RPC error answer: code, message and data as the node sent them, the method when
    known, and `reason`, the decoded revert reason when a call reverted."""

    def __init__(self, code: int, message: str, data: Any = None, method: str = "") -> None:
        self.code = code
        self.message = message
        self.data = data
        self.method = method
        self.reason = revert_reason(message, data)
        text = f"JSON-RPC error {code}: {message}"
        if self.reason and self.reason not in message:
            text += f" (reason {self.reason!r})"
        super().__init__(f"{method}: {text}" if method else text)

    @property
    def transient(self) -> bool:
        """True for rate limits and overload, which are worth retrying after a pause."""
        text = self.message.lower()
        return self.code in (-32005, 429, -32603) and any(h in text for h in RATE_LIMIT_HINTS)


def result(response: Any, method: str = "") -> Any:
    """The result of one JSON-RPC response, or RpcError for an error response."""
    if not isinstance(response, dict):
        raise RpcError(-32700, f"malformed response {response!r:.200}", method=method)
    error = response.get("error")
    if error:
        if isinstance(error, dict):
            raise RpcError(int(error.get("code", -32000)), str(error.get("message", "")),
                           error.get("data"), method)
        raise RpcError(-32000, str(error), method=method)
    return response.get("result")


def check(answer: Any | RpcError) -> Any:
    """A batch answer, raising the error it carries."""
    if isinstance(answer, RpcError):
        raise answer
    return answer


def block_ref(block_hash: str | None, number: int | None = None) -> BlockRef:
    """An EIP-1898 block parameter: pinned by hash when known (a reorg then errors, never
    silently reads the other branch), else by number, else latest."""
    if block_hash:
        return {"blockHash": block_hash}
    return hex(number) if number is not None else "latest"


def eth_call(to: str, data: str, block: BlockRef) -> Request:
    """An eth_call request, for a client's call or batch."""
    return ("eth_call", [{"to": to, "data": data}, block])
