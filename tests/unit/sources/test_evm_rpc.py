"""The async client's retry policy: rate limits are retried with jittered backoff, errors not."""

from __future__ import annotations

import asyncio
import logging

import pytest

from monitor.sources.evm.jsonrpc import RpcError
from monitor.sources.evm.rpc import Backoff, Rpc, redact


def test_backoff_retries_rate_limits_and_not_other_errors() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        """Rate-limited twice, then answers."""
        calls.append(1)
        if len(calls) < 3:
            raise RpcError(429, "Too Many Requests")
        return "ok"

    assert asyncio.run(Backoff(base=0.0).run(flaky, "x")) == "ok" and len(calls) == 3

    async def reverted() -> str:
        """A permanent error."""
        calls.append(1)
        raise RpcError(3, "execution reverted")

    calls.clear()
    with pytest.raises(RpcError):
        asyncio.run(Backoff(base=0.0).run(reverted, "x"))
    assert len(calls) == 1
    delays = [Backoff(base=1.0, cap=4.0).delay(n) for n in range(6)]
    assert all(0.0 <= d <= min(4.0, 2 ** n) for n, d in enumerate(delays))


def test_a_node_url_key_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    url = "https://mainnet.example.io/v3/0123456789abcdef?apikey=SECRETKEY"
    assert redact(url) == "https://mainnet.example.io/…"
    assert redact("http://127.0.0.1:8545") == "http://127.0.0.1:8545"

    async def failing() -> str:
        raise OSError(f"cannot reach {url} (path /v3/0123456789abcdef)")

    with caplog.at_level(logging.WARNING), pytest.raises(OSError):
        asyncio.run(Backoff(base=0.0, attempts=2, url=url).run(failing, f"call {redact(url)}"))
    assert "retry 1" in caplog.text
    assert "0123456789abcdef" not in caplog.text and "SECRETKEY" not in caplog.text
    with pytest.raises(ValueError) as caught:
        Rpc("ftp://user:SECRETKEY@node/")
    assert "SECRETKEY" not in str(caught.value)
