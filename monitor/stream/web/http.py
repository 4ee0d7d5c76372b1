"""JSON answers of the web view: orjson bodies (NaN and infinities as null), errors as
{"error", "status"}, and 503 with Retry-After when an answer cannot be given right now."""

from __future__ import annotations

import math
from typing import Any, Final

import orjson
from faust.web import Response, View

RETRY_AFTER_S: Final = 1
# what every answer says is observed and what is modelled
LABELS: Final = {"price": "observed (oracle)", "positions": "observed (snapshots)",
                 "levels": "modelled (liquidation prices from snapshots at current prices)",
                 "cascade": "modelled (depth model and close factor 1)",
                 "contagion": "modelled (joint fixed point over every partition's positions, "
                              "protocol arithmetic, betas and each asset's depth model)"}


def answer(view: View, body: Any, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    response = view.bytes(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                          content_type="application/json", status=status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error(view: View, status: int, message: str) -> Response:
    """A JSON error response."""
    return answer(view, {"error": message, "status": status}, status)


def unavailable(view: View, reason: str) -> Response:
    """503: the answer exists somewhere but cannot be given now; ask again shortly."""
    return answer(view, {"error": reason, "status": 503, "retry_after": RETRY_AFTER_S}, 503,
                  {"Retry-After": str(RETRY_AFTER_S)})


def finite(value: float) -> float | None:
    """JSON-safe number: None for infinities and NaN."""
    return value if math.isfinite(value) else None
