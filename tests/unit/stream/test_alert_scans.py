"""Position-rule scans: a backfill's changed positions wait for the recompute budget, a price
move's scan of the books holding the asset does not (it is what puts positions near
liquidation)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from monitor.stream.app import Stream
from monitor.wire import PriceUpdate

HELD_OFF = 600.0  # seconds the budget is pushed out, as by a long backfill's passes
NOT_YET = 0.3  # seconds a held-off scan is watched not to run


async def test_a_price_move_scans_at_once_while_changed_positions_wait_for_the_budget(
        market_stream: Stream) -> None:
    alerts = market_stream.alerts
    assert alerts.position_rules.rules  # the default position-near-liquidation rule
    alerts.owned = {0}
    scans: asyncio.Queue[dict[int, set[str] | None]] = asyncio.Queue()
    scan = alerts.scanner.work

    async def recorded() -> float | None:
        scans.put_nowait(dict(alerts.to_scan))
        return await scan()

    alerts.scanner.work = recorded
    alerts.known.add(0)
    market_stream.ctx.budget.ready_at = time.monotonic() + HELD_OFF
    runner = asyncio.create_task(alerts.scanner.run())
    try:
        await asyncio.wait_for(scans.get(), 30.0)  # the fixture's own price offers, urgent too
        book = market_stream.positions.books.partitions[0].book
        some = str(book.ids()[0])
        alerts._changed((0, (some,)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(scans.get(), NOT_YET)
            raise AssertionError("a backfill's scan ran before its budget turn")
        price = market_stream.prices.values["WETH"] * 0.99
        alerts._price_moved(PriceUpdate("WETH", price, (2, 0), 2.0, "test"))
        marked = await asyncio.wait_for(scans.get(), 30.0)
        assert marked == {0: None}  # the whole book, the changed position's mark folded in
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
