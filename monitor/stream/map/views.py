"""The liquidation map pages: GET /map/ (every asset, a small map each) and GET /map/{asset}
(its levels by price, live), with their scripts and style under /map/static/. Any worker serves
them: the pages poll the routed JSON views with relative URLs, so they work behind a proxy."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Final

from faust.web import Request, Response, View

from monitor.limits import ASSET_RE
from monitor.stream.context import Context
from monitor.stream.web.http import error

HERE: Final = Path(__file__).parent
NO_CACHE: Final = {"Cache-Control": "no-cache"}  # a redeployed page is picked up at once


def moved(view: View, location: str) -> Response:
    """308 to a URL relative to the one asked for (right behind any proxy prefix)."""
    return view.text("", status=308, headers={"Location": location})


def invalid_asset(view: View) -> Response:
    """400 for an asset name the views never serve."""
    return error(view, 400, "asset: 1-128 characters of [A-Za-z0-9._:-] expected")


def register_views(ctx: Context) -> None:
    """Add GET /map/ and /map/{asset} (redirecting /map and /map/{asset}/ there), and
    /map/static/."""
    index_page = (HERE / "pages" / "index.html").read_text()
    asset_page = (HERE / "pages" / "asset.html").read_text()
    ctx.app.web.add_static("/map/static", HERE / "static")

    @ctx.app.page("/map")
    async def index_slash(view: View, request: Request) -> Response:
        """The index's relative URLs need the slash."""
        return moved(view, "map/")

    @ctx.app.page("/map/")
    async def index(view: View, request: Request) -> Response:
        """Every asset with a small map."""
        return view.html(index_page, headers=NO_CACHE)

    @ctx.app.page("/map/{asset}")
    async def asset_map(view: View, request: Request, asset: str) -> Response:
        """One asset's liquidation map."""
        if not ASSET_RE.match(asset):
            return invalid_asset(view)
        return view.html(asset_page.replace("{{asset}}", html.escape(asset)), headers=NO_CACHE)

    @ctx.app.page("/map/{asset}/")
    async def asset_map_slash(view: View, request: Request, asset: str) -> Response:
        """The page's relative URLs need it without the slash."""
        return moved(view, f"../{asset}") if ASSET_RE.match(asset) else invalid_asset(view)
