"""`monitor ingest`'s sources from its options: an Aave pool, a Morpho Blue contract (all or some
markets), both in one follower, or a manifest's; the old invocations keep their meaning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import build_parser
from monitor.sources.cli import config_from_args
from monitor.sources.evm.adapter import SourceConfig
from monitor.sources.ingest import ManifestError

POOL, MORPHO = "0x" + "aa" * 20, "0x" + "bb" * 20
MARKET = "0x" + "cc" * 32


def sources(*argv: str) -> list[SourceConfig]:
    """The sources `monitor ingest ARGV --broker … --rpc …` follows."""
    args = build_parser().parse_args(["ingest", "--broker", "kafka://b:9092", *argv])
    return config_from_args(args)[1]


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """A manifest with both protocols."""
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"rpc_url": "http://127.0.0.1:1", "pool": POOL.upper(),
                                "morpho_blue": {"address": MORPHO},
                                "assets": {"WETH": {"address": "0x" + "01" * 20}}}))
    return path


def test_addresses_name_the_protocols_followed() -> None:
    rpc = ("--rpc", "http://127.0.0.1:1")
    assert sources(*rpc, "--pool", POOL) == [SourceConfig("aave-v3", POOL)]
    assert sources(*rpc, "--protocol", "aave-v3", "--pool", POOL) == [SourceConfig("aave-v3",
                                                                                   POOL)]
    assert sources(*rpc, "--protocol", "morpho-blue", "--morpho", MORPHO, "--markets",
                   f"{MARKET.upper()}, ") == [SourceConfig("morpho-blue", MORPHO,
                                                           markets=(MARKET,))]
    assert [s.protocol for s in sources(*rpc, "--pool", POOL, "--morpho", MORPHO)] == \
        ["aave-v3", "morpho-blue"]


def test_a_manifest_follows_aave_unless_told_more(manifest: Path) -> None:
    names = {"0x" + "01" * 20: "WETH"}
    assert sources("--manifest", str(manifest)) == [SourceConfig("aave-v3", POOL, names)]
    both = sources("--manifest", str(manifest), "--protocol", "aave-v3", "--protocol",
                   "morpho-blue")
    assert both == [SourceConfig("aave-v3", POOL, names), SourceConfig("morpho-blue", MORPHO,
                                                                        names)]


@pytest.mark.parametrize(("argv", "message"), [
    ((), "one of --pool, --morpho, --factory or --manifest"),
    (("--morpho", MORPHO, "--protocol", "aave-v3"), "--morpho is given but --protocol"),
    (("--pool", POOL, "--markets", MARKET), "--markets needs --protocol morpho-blue"),
    (("--protocol", "morpho-blue", "--pool", POOL), "--pool is given but --protocol"),
    (("--protocol", "aave-v3", "--protocol", "morpho-blue", "--pool", POOL),
     "--protocol morpho-blue needs --morpho"),
])
def test_inconsistent_options_are_refused(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        sources("--rpc", "http://127.0.0.1:1", *argv)


def test_a_manifest_replaces_the_addresses(manifest: Path) -> None:
    with pytest.raises(ManifestError, match="--manifest replaces"):
        sources("--manifest", str(manifest), "--pool", POOL)


def test_a_factory_follows_uniswap_pairs_for_depth(manifest: Path) -> None:
    factory, pair = "0x" + "dd" * 20, "0x" + "ee" * 20
    rpc = ("--rpc", "http://127.0.0.1:1")
    assert sources(*rpc, "--factory", factory) == [SourceConfig("uniswap-v2", factory)]
    assert sources(*rpc, "--pool", POOL, "--factory", factory, "--pairs", pair.upper()) == [
        SourceConfig("aave-v3", POOL), SourceConfig("uniswap-v2", factory, markets=(pair,))]
    with pytest.raises(ManifestError, match="--pairs needs --protocol uniswap-v2"):
        sources(*rpc, "--pool", POOL, "--pairs", pair)
    doc = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**doc, "uniswap_v2": {"factory": factory}}))
    assert sources("--manifest", str(manifest), "--protocol", "uniswap-v2") == [
        SourceConfig("uniswap-v2", factory, {"0x" + "01" * 20: "WETH"})]
