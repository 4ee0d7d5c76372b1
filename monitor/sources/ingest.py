"""Follow sources into a broker (connect to the node and the broker, open each source's adapter,
run one follower for them all), and the source a devnet manifest describes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from monitor.sources.evm.adapter import SourceConfig
from monitor.sources.evm.follower import FollowConfig, Follower, Stats
from monitor.sources.evm.publisher import KafkaSink
from monitor.sources.evm.rpc import Rpc
from monitor.sources.registry import open_adapters

DEFAULT_PROTOCOL = "aave-v3"


async def ingest(rpc_url: str, bootstrap: str, sources: Sequence[SourceConfig],
                 config: FollowConfig, batch_size: int = 200,
                 stop: asyncio.Event | None = None) -> Stats:
    """Follow `sources` on a node into a broker until done or stopped."""
    def report(stats: Stats) -> None:
        """Progress lines to stderr so stdout stays clean for pipes."""
        print(stats.line(), file=sys.stderr, flush=True)

    async with Rpc(rpc_url, batch_size=max(batch_size, 1)) as rpc, KafkaSink(bootstrap) as sink:
        adapters = await open_adapters(rpc, sources)
        return await Follower(rpc, sink, adapters, config, progress=report).run(stop)


class ManifestError(ValueError):
    """A devnet manifest that cannot be used."""


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest as `monitor devnet` writes it (rpc_url, pool, deploy_block, assets by name);
    ManifestError when unreadable or incomplete."""
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from exc
    if not isinstance(doc, dict) or "pool" not in doc:
        raise ManifestError(f"manifest {path} has no 'pool'")
    return doc


def manifest_names(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Reserve address -> wire name from a manifest's assets."""
    assets = manifest.get("assets") or {}
    return {str(spec["address"]).lower(): name for name, spec in assets.items()
            if isinstance(spec, dict) and "address" in spec}


def manifest_source(manifest: Mapping[str, Any], protocol: str = DEFAULT_PROTOCOL
                    ) -> SourceConfig:
    """The source a manifest describes: its pool, its assets named as the manifest names them."""
    return SourceConfig(protocol, str(manifest["pool"]).lower(), manifest_names(manifest))
