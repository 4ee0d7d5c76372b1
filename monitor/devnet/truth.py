"""A cascade projection held against the cascade the devnet really ran: any projection (the
risk core's project_contagion, or the stream's joint contagion as served) reduced to what the
chain can be compared on, and the errors of each figure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.devnet.cascade import CascadeResult
from monitor.risk.contagion import ContagionProjection


@dataclass(frozen=True)
class ProjectedCascade:
    """What a projection says: terminal price per asset, USD liquidated per protocol (the
    collateral seized, at the prices it was seized at) and the bad debt it leaves."""

    terminal_prices: Mapping[str, float]
    liquidated_usd: Mapping[str, float]
    bad_debt_usd: float

    @classmethod
    def from_contagion(cls, projection: ContagionProjection) -> ProjectedCascade:
        """The figures of a risk-core contagion projection (direct + induced per protocol)."""
        by_protocol = projection.liquidated_usd_by_protocol()
        return cls(dict(projection.terminal_prices),
                   {name: split["direct"] + split["induced"]
                    for name, split in by_protocol.items()},
                   projection.bad_debt_usd)

    @classmethod
    def from_served(cls, body: Mapping[str, Any]) -> ProjectedCascade:
        """The figures of a joint projection as the worker serves it (a /stress/ scenario's
        `projection`, or `contagion` at /cascades/{asset}/), so the test reads the stream's."""
        return cls({asset: float(p) for asset, p in body["terminal_prices"].items()},
                   {name: float(split["direct"]) + float(split["induced"])
                    for name, split in body["liquidated_usd_by_protocol"].items()},
                   float(body["bad_debt_usd"]))


@dataclass(frozen=True)
class CascadeErrors:
    """Projected against realized: per asset the terminal price's relative error and the error
    of the move (projected − realized move, as a fraction of the start price); per protocol
    the USD liquidated's relative error; the bad debt's difference in USD."""

    shock: float  # the swap's move of the WETH pool's price (−0.03: down 3 %)
    price: dict[str, float]  # by asset
    move: dict[str, float]  # by asset
    liquidated: dict[str, float]  # by protocol
    bad_debt_usd: float
    projected: ProjectedCascade
    realized: CascadeResult

    def to_dict(self) -> dict[str, Any]:
        """The figures, for a report or a benchmark line."""
        return {"shock": self.shock, "terminal_price_rel_error": self.price,
                "move_error": self.move, "liquidated_usd_rel_error": self.liquidated,
                "bad_debt_usd_error": self.bad_debt_usd,
                "projected": {"terminal_prices": dict(self.projected.terminal_prices),
                              "liquidated_usd": dict(self.projected.liquidated_usd),
                              "bad_debt_usd": self.projected.bad_debt_usd},
                "realized": {"terminal_prices": self.realized.terminal_prices,
                             "liquidated_usd": self.realized.liquidated_usd,
                             "bad_debt_usd": sum(self.realized.bad_debt_usd.values()),
                             "rounds": self.realized.rounds,
                             "liquidations": self.realized.liquidations}}


def relative_error(projected: float, realized: float) -> float:
    """(projected − realized) / realized; the projected value itself when nothing happened."""
    return (projected - realized) / realized if realized else projected


def compare(projected: ProjectedCascade, realized: CascadeResult) -> CascadeErrors:
    """The errors of a projection made before the shock against what the chain did after it."""
    start = realized.start_prices
    price = {a: relative_error(projected.terminal_prices.get(a, start[a]), p)
             for a, p in realized.terminal_prices.items()}
    move = {a: (projected.terminal_prices.get(a, start[a]) - p) / start[a]
            for a, p in realized.terminal_prices.items()}
    liquidated = {name: relative_error(projected.liquidated_usd.get(name, 0.0), usd)
                  for name, usd in realized.liquidated_usd.items()}
    return CascadeErrors(realized.shock, price, move, liquidated,
                         projected.bad_debt_usd - sum(realized.bad_debt_usd.values()),
                         projected, realized)
