"""Raw JSON-RPC over web3.py's async providers (HTTP or WebSocket) with batching and backoff.

The follower talks to the provider directly (`make_request` / `make_batch_request`) so the hot
path skips web3's result formatters and middlewares, and every call shares one retry policy:
exponential backoff with full jitter on transport errors and rate limits.
"""

from __future__ import annotations

import asyncio
import logging
import random
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

import aiohttp
from web3 import AsyncHTTPProvider, AsyncWeb3, WebSocketProvider
from web3.exceptions import ProviderConnectionError, TimeExhausted
from web3.types import RPCEndpoint
from websockets.exceptions import WebSocketException

from monitor.sources.evm.jsonrpc import RpcError, check, result

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, OSError,
             WebSocketException, ProviderConnectionError, TimeExhausted)


def redact(url: str) -> str:
    """A node URL without what may hold an API key (user info, path, query): scheme://host/…"""
    parts = urllib.parse.urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    hidden = parts.path.strip("/") or parts.query or parts.username
    return f"{parts.scheme}://{parts.hostname or '?'}{port}" + ("/…" if hidden else "")


def scrub(text: str, url: str) -> str:
    """`text` (an error's message) without `url`'s secret parts."""
    parts = urllib.parse.urlsplit(url)
    text = text.replace(url, redact(url))
    for secret in (parts.path, parts.query, parts.username, parts.password):
        if secret and len(secret.strip("/")) > 1:
            text = text.replace(secret, "/…")
    return text


class Scrubbed(logging.Filter):
    """A handler filter that takes a node URL's secret parts out of every record (web3 logs
    the whole URL it connects to)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without the URL's secrets; keep every record."""
        message = record.getMessage()
        cleaned = scrub(message, self.url)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def scrub_logs(url: str) -> None:
    """Keep `url`'s secrets out of everything the root logger's handlers write."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(Scrubbed(url))


@dataclass
class Backoff:
    """Exponential backoff with full jitter: sleep U(0, min(cap, base·2^attempt))."""

    base: float = 0.2
    cap: float = 30.0
    attempts: int = 8
    rng: random.Random = field(default_factory=random.Random)
    url: str | None = None  # the node's URL, scrubbed from what is logged

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        return self.rng.uniform(0.0, min(self.cap, self.base * 2 ** attempt))

    async def run(self, action: Callable[[], Awaitable[T]], what: str) -> T:
        """Run `action`, retrying transient failures; the last failure propagates."""
        for attempt in range(self.attempts):
            try:
                return await action()
            except RpcError as exc:
                if not exc.transient or attempt == self.attempts - 1:
                    raise
                error: BaseException = exc
            except TRANSIENT as exc:
                if attempt == self.attempts - 1:
                    raise
                error = exc
            pause = self.delay(attempt)
            said = str(error) if self.url is None else scrub(str(error), self.url)
            log.warning("%s failed (%s); retry %d in %.2fs", what, said, attempt + 1, pause)
            await asyncio.sleep(pause)
        raise AssertionError("unreachable: the last attempt returns or raises")


class Rpc:
    """One connection to a node: single calls and batches of raw JSON-RPC requests."""

    def __init__(self, url: str, batch_size: int = 200, backoff: Backoff | None = None,
                 timeout: float = 60.0) -> None:
        self.url = url
        self.batch_size = batch_size
        self.backoff = replace(backoff or Backoff(), url=url)
        self.websocket = url.startswith(("ws://", "wss://"))
        provider: AsyncHTTPProvider | WebSocketProvider
        if self.websocket:
            provider = WebSocketProvider(url, websocket_kwargs={"max_size": 1 << 28},
                                         request_timeout=timeout)
        elif url.startswith(("http://", "https://")):
            provider = AsyncHTTPProvider(url, request_kwargs={"timeout": timeout},
                                         exception_retry_configuration=None)
        else:
            raise ValueError("RPC URL must start with http(s):// or ws(s)://, got "
                             f"{redact(url)!r}")
        self.w3: AsyncWeb3[Any] = AsyncWeb3(provider)
        self._batch_lock = asyncio.Lock()  # web3's persistent providers share one batch id

    async def connect(self) -> Rpc:
        """Open the connection (WebSocket) and check that the node answers."""
        try:
            if self.websocket:
                await self.backoff.run(self.w3.provider.connect, f"connect {redact(self.url)}")
            await self.call("eth_chainId", [])
        except BaseException:
            await self.close()  # the provider's session, even when the node never answered
            raise
        return self

    async def close(self) -> None:
        """Close the connection."""
        await self.w3.provider.disconnect()

    async def __aenter__(self) -> Rpc:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, method: str, params: Sequence[Any]) -> Any:
        """One request; RpcError on an error response after transient retries."""
        async def once() -> Any:
            """One attempt."""
            if self.websocket:  # web3's socket listener raises single error responses itself
                return check((await self._batch_once([(RPCEndpoint(method), params)]))[0])
            return result(await self.w3.provider.make_request(RPCEndpoint(method), params),
                          method)
        return await self.backoff.run(once, method)

    async def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]
                    ) -> list[Any | RpcError]:
        """Many requests in JSON-RPC batches of batch_size; per-request errors come back as
        RpcError values in place, transport errors and rate limits are retried."""
        results: list[Any | RpcError] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = [(RPCEndpoint(m), p) for m, p in requests[start:start + self.batch_size]]
            results.extend(await self.backoff.run(partial(self._batch_once, chunk),
                                                  f"batch of {len(chunk)}"))
        return results

    async def _batch_once(self, chunk: list[tuple[RPCEndpoint, Any]]) -> list[Any | RpcError]:
        """Send one batch; a whole-batch error response raises (retried when transient)."""
        async with self._batch_lock:
            responses = await self.w3.provider.make_batch_request(chunk)
        if not isinstance(responses, list):
            result(responses, "batch")
            raise RpcError(-32700, "batch answered with a single non-error response",
                           method="batch")
        if len(responses) != len(chunk):
            raise RpcError(-32700, f"batch of {len(chunk)} answered {len(responses)} responses",
                           method="batch")
        out: list[Any | RpcError] = []
        transient: RpcError | None = None
        for (method, _), response in zip(chunk, responses, strict=True):
            try:
                out.append(result(response, method))
            except RpcError as exc:
                out.append(exc)
                transient = exc if exc.transient else transient
        if transient is not None:
            raise transient
        return out

    async def block_number(self) -> int:
        """The node's head block number."""
        return int(await self.call("eth_blockNumber", []), 16)

    async def chain_id(self) -> int:
        """The chain id (EIP-155)."""
        return int(await self.call("eth_chainId", []), 16)
