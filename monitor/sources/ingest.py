"""Follow sources into a broker (connect to the node and the broker, open each source's adapter,
run one follower for them all), and the sources a devnet manifest describes."""

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
# protocol -> where its entry contract's address sits in a devnet manifest
MANIFEST_ENTRIES: dict[str, tuple[str, ...]] = {"aave-v3": ("pool",),
                                                "morpho-blue": ("morpho_blue", "address"),
                                                "uniswap-v2": ("uniswap_v2", "factory")}


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
    """A manifest as `monitor devnet` writes it (rpc_url, pool, morpho_blue, deploy_block,
    assets by name); ManifestError when unreadable or incomplete."""
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


def manifest_protocols(manifest: Mapping[str, Any]) -> list[str]:
    """The protocols a manifest describes (Aave V3, and Morpho Blue when it has one)."""
    return [p for p, (key, *_) in MANIFEST_ENTRIES.items() if key in manifest]


def manifest_source(manifest: Mapping[str, Any], protocol: str = DEFAULT_PROTOCOL
                    ) -> SourceConfig:
    """The source a manifest describes for `protocol`: its entry contract (the Aave pool,
    Morpho Blue's contract), its assets named as the manifest names them; ManifestError when
    the manifest has none."""
    entry: Any = manifest
    for key in MANIFEST_ENTRIES.get(protocol, ()):
        entry = entry.get(key) if isinstance(entry, Mapping) else None
    if not isinstance(entry, str):
        raise ManifestError(f"the manifest describes no {protocol} source")
    return SourceConfig(protocol, entry.lower(), manifest_names(manifest))


def manifest_sources(manifest: Mapping[str, Any]) -> list[SourceConfig]:
    """Every source a manifest describes, to follow in one follower."""
    return [manifest_source(manifest, protocol) for protocol in manifest_protocols(manifest)]
