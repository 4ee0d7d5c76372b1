"""Routing a keyed query to the worker that owns the key's partition: answered here when this
worker owns it, forwarded once (with a timeout) when another does, and 503 with Retry-After
while nobody can answer (no owner yet, recovering, unreachable) instead of an error or a hang."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp
from faust.web import Request, Response, View
from yarl import URL

from monitor.stream.context import Context
from monitor.stream.web.guard import authorization
from monitor.stream.web.http import unavailable

ROUTED: Final = "X-Monitor-Routed"  # set on a forwarded query: never forward it again


async def routed(ctx: Context, view: View, request: Request, table: Any, key: str,
                 local: Callable[[], Awaitable[Response]]) -> Response:
    """The answer of the owner of `key` in `table`: `local()` here, or the owner's. A failed
    forward is tried once more when the assignment has moved the key to another worker."""
    tried: set[URL] = set()
    while True:
        owner = ctx.owner(table, key)
        if owner is None:
            return unavailable(view, "no worker owns this key yet (the group is rebalancing)")
        if ctx.is_me(owner):
            if not ctx.ready() or not ctx.holds(table, key):
                return unavailable(view, "this worker is recovering the key's partition")
            return await local()
        if request.headers.get(ROUTED):
            return unavailable(view, "the key's owner is moving (rebalancing)")
        if owner in tried:
            return unavailable(view, f"the key's owner {owner} did not answer")
        tried.add(owner)
        try:
            return await _forward(ctx, view, request, owner)
        except (aiohttp.ClientError, TimeoutError):
            continue


async def _forward(ctx: Context, view: View, request: Request, owner: URL) -> Response:
    """The owner's answer to this request, within the route timeout."""
    url = request.url.with_scheme(owner.scheme).with_host(owner.host or "")
    url = url.with_port(owner.port)
    timeout = aiohttp.ClientTimeout(total=ctx.settings.route_timeout)
    headers = {ROUTED: "1", **authorization(ctx.settings)}
    async with ctx.app.http_client.get(url, headers=headers, timeout=timeout) as response:
        body = await response.read()
        forwarded = view.bytes(body, content_type=response.content_type,
                               status=response.status)
        if "Retry-After" in response.headers:
            forwarded.headers["Retry-After"] = response.headers["Retry-After"]
        return forwarded
