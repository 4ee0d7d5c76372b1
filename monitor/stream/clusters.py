"""The clusters agent: keyed by asset, it keeps every positions partition's latest cluster
partial in a changelog-backed table and merges them into the asset's cluster map."""

from __future__ import annotations

import logging

from faust.types import StreamT

from monitor.risk import ClusterMap
from monitor.stream.app import CLUSTER_PARTIALS, Pipeline
from monitor.stream.deadletter import reject
from monitor.stream.inputs import Rejected, parse_object

log = logging.getLogger(__name__)


def partial_key(asset: str, partition: int) -> str:
    """Table key of one positions partition's partial for an asset."""
    return f"{asset}#{partition}"


def parse_partial(raw: bytes | None) -> tuple[str, int, float, ClusterMap]:
    """(asset, positions partition, built_at, clusters) of a partial, or Rejected."""
    value = parse_object(raw)
    try:
        return (str(value["asset"]), int(value["partition"]), float(value["built_at"]),
                ClusterMap.from_dict(value["clusters"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise Rejected("invalid-partial", repr(exc)) from exc


def register(pipe: Pipeline) -> None:
    """Add the clusters agent and the board rebuild on recovery."""
    table = pipe.partial_table

    @pipe.app.agent(pipe.partials, name="clusters")
    async def merge_partials(stream: StreamT[bytes]) -> None:
        """Keep the newest partial per (asset, partition) and mark the asset for projection."""
        async for event in stream.events():
            try:
                asset, partition, built_at, clusters = parse_partial(event.message.value)
            except Rejected as rejected:
                await reject(pipe.dead_letters, pipe.metrics, CLUSTER_PARTIALS, event, rejected)
                continue
            if pipe.board.put(asset, partition, clusters, built_at):
                table[partial_key(asset, partition)] = {
                    "asset": asset, "partition": partition, "built_at": built_at,
                    "clusters": clusters.to_dict(), "owner_partition": event.message.partition}
                pipe.throttle.mark(asset)

    async def rebuild_board() -> None:
        """Rebuild the merged cluster maps of the owned assets from the recovered partials."""
        owned = pipe.owned(pipe.partials.get_topic_name())
        pipe.board.clear()
        for value in table.values():
            if value and value.get("owner_partition") in owned:
                pipe.board.put(value["asset"], int(value["partition"]),
                               ClusterMap.from_dict(value["clusters"]), float(value["built_at"]))
                pipe.throttle.mark(value["asset"])
        for asset in set(pipe.projections) - set(pipe.board.assets):
            del pipe.projections[asset]
            pipe.throttle.forget(asset)
        log.info("cluster board rebuilt: %d assets", len(pipe.board.assets))

    table.on_recover(rebuild_board)
