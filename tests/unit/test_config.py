"""Settings from environment variables and TOML: defaults, overrides, and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_settings
from monitor.risk import ConstantProductDepth, PowerLawDepth


def test_defaults_ship_every_asset_with_a_depth_model() -> None:
    settings = load_settings(environ={})
    assert (settings.broker, settings.web_host, settings.web_port) == (
        "kafka://127.0.0.1:9092", "127.0.0.1", 6066)
    assert (settings.store, settings.partitions, settings.grid_step) == ("memory://", 4, 0.0025)
    for asset in ("WETH", "wstETH", "WBTC", "LINK", "USDC", "DAI", "USDT"):
        assert isinstance(settings.assets[asset].depth_model(), PowerLawDepth)
    assert settings.assets["WETH"].betas["wstETH"] == 1.0
    assert settings.cascade.a_min == 2.0 and settings.cascade.levels == 200


def test_environment_and_file_override_defaults(tmp_path: Path) -> None:
    path = tmp_path / "model.toml"
    path.write_text("[assets.WETH]\npool_reserve = 23221.35\n[cascade]\na_min = 3.0\n")
    settings = load_settings(environ={"MONITOR_CONFIG": str(path), "MONITOR_PARTITIONS": "8",
                                      "MONITOR_BROKER": "10.0.0.1:9092",
                                      "MONITOR_STORE": "rocksdb://"})
    assert settings.partitions == 8 and settings.store == "rocksdb://"
    assert settings.broker == "kafka://10.0.0.1:9092"
    assert settings.assets["WETH"].depth_model() == ConstantProductDepth(reserve=23221.35)
    assert settings.assets["WBTC"].depth_usd_2pct is not None  # other defaults kept
    assert settings.cascade.a_min == 3.0
    assert load_settings(environ=settings.to_env()) == settings


@pytest.mark.parametrize(("toml", "key"), [
    ("[assets.WETH]\ndepth_usd_2pct = -1\n", "assets.WETH.depth_usd_2pct"),
    ("[assets.WETH]\ndepth = 1\n", "assets.WETH.depth"),
    ("[assets.WETH.betas]\nWBTC = 'high'\n", "assets.WETH.betas.WBTC"),
    ("[protocols.aave-v3]\nclose_factor = 2\n", "protocols.aave-v3.close_factor"),
    ("[cascade]\nlevels = 0\n", "cascade.levels"),
    ("[cascade]\nmax_move = 1.5\n", "cascade.max_move"),
    ("[contagion]\nperiod = 1\n", "contagion.period"),
    ("[contagion]\nenabled = 'yes'\n", "contagion.enabled"),
    ("[contagion.stress.crash]\nasset = 'WETH'\nmove = -1.0\n", "contagion.stress.crash.move"),
    ("[contagion.stress.crash]\nmove = -0.1\n", "contagion.stress.crash.asset"),
    ("assets = 3\n", "assets"),
    ("[cascade\n", "not valid TOML"),
])
def test_bad_file_names_the_key(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(path, environ={})


@pytest.mark.parametrize(("name", "value"), [
    ("MONITOR_WEB_PORT", "http"), ("MONITOR_PARTITIONS", "0"), ("MONITOR_GRID_STEP", "nan"),
    ("MONITOR_STORE", "redis://"), ("MONITOR_BROKER_FLAVOR", "pulsar"),
])
def test_bad_environment_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(environ={name: value})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MONITOR_CONFIG"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_stress_shocks_default_and_replace_as_a_whole(tmp_path: Path) -> None:
    shipped = load_settings(environ={}).contagion
    assert shipped.enabled and shipped.timeout == 5.0
    assert [(s.name, s.asset, s.move, s.betas) for s in shipped.stress] == [
        ("eth-10", "WETH", -0.1, None), ("eth-20", "WETH", -0.2, None),
        ("eth-30", "WETH", -0.3, None)]
    path = tmp_path / "model.toml"
    path.write_text("[contagion]\nenabled = false\n[contagion.stress.btc]\nasset = 'WBTC'\n"
                    "move = -0.15\n[contagion.stress.btc.betas]\nWETH = 0.5\n")
    mine = load_settings(path, environ={}).contagion
    assert not mine.enabled
    assert [(s.name, s.asset, s.move, s.betas) for s in mine.stress] == [
        ("btc", "WBTC", -0.15, {"WETH": 0.5})]
