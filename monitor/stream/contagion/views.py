"""GET /stress/: the joint projection of every configured stress shock, from the global stress
table (any worker answers; each shock's coordinator writes it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faust.web import Request, Response, View

from monitor.stream.context import Context
from monitor.stream.web.http import LABELS, answer

if TYPE_CHECKING:
    from monitor.stream.contagion.feature import Contagion


def register_views(ctx: Context, contagion: Contagion) -> None:
    """Add GET /stress/."""

    @ctx.app.page("/stress/")
    async def stress(view: View, request: Request) -> Response:
        """Every configured stress shock and its latest joint projection (null until one)."""
        held = dict(contagion.stress.items())
        scenarios = [{"name": shock.name, "asset": shock.asset, "move": shock.move,
                      "betas": shock.betas, "projection": held.get(shock.name)}
                     for shock in contagion.config.stress]
        return answer(view, {"scenarios": scenarios, "count": len(scenarios),
                             "enabled": contagion.config.enabled, "labels": LABELS})
