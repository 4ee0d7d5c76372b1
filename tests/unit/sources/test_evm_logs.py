"""eth_getLogs ranges that shrink on provider limits (and the hints they give) and grow back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from monitor.sources.evm.jsonrpc import RpcError
from monitor.sources.evm.logs import (
    LogFilter,
    RangeSizer,
    fetch_logs,
    is_range_error,
    suggested_span,
)
from monitor.sources.evm.rpc import Backoff, Rpc


def test_range_sizer_shrinks_to_suggestions_and_grows_back() -> None:
    sizer = RangeSizer(span=1000, minimum=1, maximum=4000, grow_after=2)
    assert sizer.shrink() and sizer.span == 500
    assert sizer.shrink(120) and sizer.span == 120
    assert sizer.shrink(5000) and sizer.span == 60  # a suggestion larger than now: halve
    sizer.success(30)  # a short (end of chain) range says nothing about the limit
    sizer.success(60)
    assert sizer.span == 60
    sizer.success(60)
    assert sizer.span == 120
    tiny = RangeSizer(span=1, minimum=1)
    assert not tiny.shrink()


@pytest.mark.parametrize(("message", "is_range", "span"), [
    ("query returned more than 10000 results. Try with this block range [0x10, 0x2F].", True,
     32),
    ("Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range",
     True, None),
    ("block range is too wide", True, None),
    ("exceed maximum block range: 5000", True, None),
    ("execution reverted", False, None),
])
def test_range_errors_are_recognised(message: str, is_range: bool, span: int | None) -> None:
    exc = RpcError(-32005, message)
    assert is_range_error(exc) is is_range
    assert suggested_span(exc) == span


class _LimitedNode(Rpc):
    """A node refusing eth_getLogs over more than `limit` blocks (only `call` is replaced)."""

    def __init__(self, limit: int) -> None:
        super().__init__("http://127.0.0.1:1", backoff=Backoff(base=0.0))
        self.limit = limit
        self.spans: list[int] = []

    async def call(self, method: str, params: Any) -> Any:
        """eth_getLogs with a block-range limit."""
        start, end = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        self.spans.append(end - start + 1)
        if end - start + 1 > self.limit:
            raise RpcError(-32005, "query returned more than 10000 results")
        return [{"blockNumber": hex(start)}]


def test_fetch_logs_shrinks_until_the_node_accepts_then_grows() -> None:
    node = _LimitedNode(limit=300)
    sizer = RangeSizer(span=2000, maximum=2000, grow_after=1)
    flt = LogFilter(("0x" + "01" * 20,), ("0x" + "02" * 32,))
    end, logs = asyncio.run(fetch_logs(node, flt, 100, 10_000, sizer))
    assert node.spans == [2000, 1000, 500, 250]
    assert (end, logs) == (349, [{"blockNumber": hex(100)}])
    assert sizer.span == 500  # grew back after a success; the next call shrinks again
    with pytest.raises(RpcError):
        asyncio.run(fetch_logs(_LimitedNode(limit=0), flt, 1, 5, RangeSizer(span=4)))
