"""The prices agent: versioned oracle prices into the global prices table that every worker
reads (each worker's partial publisher notices a changed price and reprices its books)."""

from __future__ import annotations

import time

from faust.types import StreamT

from monitor.stream.app import PRICES, Pipeline
from monitor.stream.deadletter import reject
from monitor.stream.inputs import Rejected, parse_price
from monitor.stream.positions import is_newer


def register(pipe: Pipeline) -> None:
    """Add the prices agent."""
    table, metrics = pipe.price_table, pipe.metrics

    @pipe.app.agent(pipe.prices, name="prices")
    async def apply_prices(stream: StreamT[bytes]) -> None:
        """Validate and apply price updates, newest version wins."""
        async for event in stream.events():
            started = time.perf_counter()
            message = event.message
            try:
                update = parse_price(message.key, message.value)
            except Rejected as rejected:
                await reject(pipe.dead_letters, metrics, PRICES, event, rejected)
                continue
            if is_newer(update.version, table.get(update.asset)):
                table[update.asset] = update.to_dict()
                metrics.processed.labels(PRICES, "applied").inc()
            else:
                metrics.processed.labels(PRICES, "stale").inc()
            metrics.latency.labels(PRICES).observe(time.perf_counter() - started)
            metrics.lag.labels(PRICES).observe(max(0.0, time.time() - message.timestamp))
