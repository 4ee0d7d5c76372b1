"""`monitor run` shows alerts as they fire: the worker's console receiver writes them to its
log, and these lines are echoed to the terminal as they appear."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

PREFIX: Final = b"monitor alerts: "  # what the console receiver's lines start with
FOLLOW_EVERY_S: Final = 0.2


async def echo_alerts(log_path: Path) -> None:
    """Print every console-receiver line the log gets from now on, until cancelled."""
    with log_path.open("rb") as log:
        log.seek(0, 2)
        while True:
            line = log.readline()
            if not line.endswith(b"\n"):
                log.seek(-len(line), 1)
                await asyncio.sleep(FOLLOW_EVERY_S)
            elif line.startswith(PREFIX):
                print(line.decode("utf-8", "replace").rstrip(), flush=True)


@contextlib.asynccontextmanager
async def echoing(log_path: Path) -> AsyncIterator[None]:
    """Echo the worker's alert lines for the with-block."""
    task = asyncio.ensure_future(echo_alerts(log_path))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
