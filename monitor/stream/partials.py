"""The cluster partial, the one record the positions feature sends the clusters feature: one
positions partition's cluster map of one asset, when it was built, and the versions of the
prices its levels were computed with. Keyed by asset on the internal partials topic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from monitor.risk import ClusterMap
from monitor.wire import Rejected, Version, parse_object, parse_version


@dataclass(frozen=True)
class ClusterPartial:
    """A snapshot of one partition's clusters of one asset (a newer one replaces it)."""

    asset: str
    partition: int
    built_at: float
    clusters: ClusterMap
    price_versions: Mapping[str, Version] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """The wire bytes."""
        return orjson.dumps({"asset": self.asset, "partition": self.partition,
                             "built_at": self.built_at,
                             "price_versions": {a: list(v)
                                                for a, v in self.price_versions.items()},
                             "clusters": self.clusters.to_columns()})

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> ClusterPartial:
        """Parse the wire bytes, or Rejected("invalid-partial")."""
        value = parse_object(raw)
        try:
            clusters = ClusterMap.from_columns(value["clusters"])
            versions = {str(a): parse_version(v, f"price_versions.{a}")
                        for a, v in dict(value.get("price_versions", {})).items()}
            partial = cls(str(value["asset"]), int(value["partition"]),
                          float(value["built_at"]), clusters, versions)
        except (KeyError, TypeError, ValueError) as exc:
            raise Rejected("invalid-partial", repr(exc)) from exc
        if clusters.asset != partial.asset:
            raise Rejected("invalid-partial",
                           f"clusters of {clusters.asset!r} in a partial of {partial.asset!r}")
        return partial
