"""The two vocabularies of direction, defined once: a level's side (which way its positions
liquidate) and a cascade's side (which way the price runs), and how they pair up."""

from __future__ import annotations

from typing import Final, Literal

Side = Literal["long", "short"]
CascadeSide = Literal["down", "up"]
SIDES: Final[tuple[Side, Side]] = ("long", "short")
CASCADE_SIDES: Final[tuple[CascadeSide, CascadeSide]] = ("down", "up")
# a fall runs through the longs, a rise through the shorts
LEVEL_SIDE: Final[dict[CascadeSide, Side]] = {"down": "long", "up": "short"}
