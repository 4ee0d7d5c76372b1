"""GET /stress/: the joint projection of every configured stress shock, from the global stress
table (any worker answers; each shock's coordinator writes it). POST /contagion/step/{n}/: a
round of a joint cascade answered for positions partition n by the worker that owns it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faust.web import Request, Response, View

from monitor.stream.contagion.rounds import StepRequest
from monitor.stream.context import Context
from monitor.stream.web.http import LABELS, answer, error, unavailable
from monitor.wire import Rejected

if TYPE_CHECKING:
    from monitor.stream.contagion.feature import Contagion


def register_views(ctx: Context, contagion: Contagion) -> None:
    """Add GET /stress/ and POST /contagion/step/{partition}/."""

    @ctx.app.page("/stress/")
    async def stress(view: View, request: Request) -> Response:
        """Every configured stress shock and its latest joint projection (null until one)."""
        held = dict(contagion.stress.items())
        scenarios = [{"name": shock.name, "asset": shock.asset, "move": shock.move,
                      "betas": shock.betas, "projection": held.get(shock.name)}
                     for shock in contagion.config.stress]
        return answer(view, {"scenarios": scenarios, "count": len(scenarios),
                             "enabled": contagion.config.enabled, "labels": LABELS})

    @ctx.app.page("/contagion/step/{partition}/")
    class Step(View):
        """What a positions partition held here releases at a round's prices."""

        async def post(self, request: Request, partition: str) -> Response:
            """The step reply (releases null when this worker cannot answer for it)."""
            try:
                step = StepRequest.from_bytes(await request.read())
                number = int(partition)
            except (Rejected, ValueError) as exc:
                return error(self, 400, str(exc))
            if not ctx.ready():
                return unavailable(self, "this worker is rebalancing or recovering")
            reply = contagion.responder.answer(step, number)
            return self.bytes(reply.to_bytes(), content_type="application/json")
