"""The two records of a joint cascade's rounds (pure: no Faust): a step request, the round's
price vector of every projection of a batch, which the coordinator posts to the owner of each
positions partition (POST /contagion/step/{partition}/), and the step reply it answers with,
what that partition's positions release at those prices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from monitor.risk import Release
from monitor.wire import Rejected, parse_object

MAX_RUNS: Final = 256  # scenarios in one step request (a pass has a few per owned asset)


def _floats(value: Any) -> dict[str, float]:
    """A {name: number} object."""
    return {str(k): float(v) for k, v in dict(value).items()}


def release_to_dict(release: Release) -> dict[str, Any]:
    """The JSON form of a release."""
    return {"sold": release.sold, "usd": release.usd_by_protocol,
            "liquidated": release.liquidated, "bad_debt": release.bad_debt_by_protocol,
            "markets": {k: list(pair) for k, pair in release.markets.items()}}


def release_from_dict(value: Mapping[str, Any]) -> Release:
    """A release from its JSON form."""
    markets = {str(k): (str(pair[0]), str(pair[1])) for k, pair in dict(value["markets"]).items()}
    return Release(_floats(value["sold"]), _floats(value["usd"]), int(value["liquidated"]),
                   _floats(value["bad_debt"]), markets)


@dataclass(frozen=True)
class StepRequest:
    """Round `round` of batch `batch`: every run's price vector, from common start prices."""

    batch: str
    round: int
    start: dict[str, float]
    runs: dict[str, dict[str, float]]

    def to_bytes(self) -> bytes:
        """The wire bytes."""
        return orjson.dumps({"batch": self.batch, "round": self.round, "start": self.start,
                             "runs": self.runs})

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> StepRequest:
        """Parse the wire bytes, or Rejected("invalid-contagion")."""
        value = parse_object(raw)
        try:
            request = cls(str(value["batch"]), int(value["round"]), _floats(value["start"]),
                          {str(run): _floats(prices)
                           for run, prices in dict(value["runs"]).items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise Rejected("invalid-contagion", repr(exc)) from exc
        if len(request.runs) > MAX_RUNS:
            raise Rejected("invalid-contagion", f"{len(request.runs)} runs: at most {MAX_RUNS}")
        return request


@dataclass(frozen=True)
class StepReply:
    """One positions partition's releases for a round of a batch, by run; None when the
    partition's owner cannot answer (not held here, or the batch's earlier rounds unknown)."""

    batch: str
    round: int
    partition: int
    releases: dict[str, Release] | None

    def to_bytes(self) -> bytes:
        """The wire bytes."""
        releases = None if self.releases is None else {
            run: release_to_dict(release) for run, release in self.releases.items()}
        return orjson.dumps({"batch": self.batch, "round": self.round,
                             "partition": self.partition, "releases": releases})

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> StepReply:
        """Parse the wire bytes, or Rejected("invalid-contagion")."""
        value = parse_object(raw)
        try:
            found = value["releases"]
            releases = None if found is None else {
                str(run): release_from_dict(release) for run, release in dict(found).items()}
            return cls(str(value["batch"]), int(value["round"]), int(value["partition"]),
                       releases)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise Rejected("invalid-contagion", repr(exc)) from exc
