"""Settings of a worker: runtime knobs from MONITOR_* environment variables, the risk model
(assets' market depth and betas, protocol parameters, cascade search) from a TOML file."""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

from monitor.limits import Limits
from monitor.risk import ConstantProductDepth, DepthModel, PowerLawDepth

T = TypeVar("T")
FLAVORS: Final = ("auto", "kafka", "tansu")
STORE_SCHEMES: Final = ("memory://", "rocksdb://")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class AssetConfig:
    """Market depth of one asset (how liquidations move its price) and its contagion betas."""

    depth_usd_2pct: float | None = None
    depth_exponent: float = 1.0
    pool_reserve: float | None = None
    betas: Mapping[str, float] = field(default_factory=dict)

    def depth_model(self) -> DepthModel | None:
        """The depth model the cascade projection uses, or None when the asset has no depth."""
        if self.pool_reserve is not None:
            return ConstantProductDepth(reserve=self.pool_reserve)
        if self.depth_usd_2pct is not None:
            return PowerLawDepth(depth_usd_2pct=self.depth_usd_2pct,
                                 exponent=self.depth_exponent)
        return None


@dataclass(frozen=True)
class ProtocolConfig:
    """Parameters of a protocol that its snapshots may leave out."""

    close_factor: float = 1.0


@dataclass(frozen=True)
class CascadeConfig:
    """How the cascade trigger is searched (see monitor.risk.find_cascade_trigger)."""

    a_min: float = 2.0  # the least amplification (cascade move / shock move) a trigger has
    levels: int = 200  # shock levels tried on each side ...
    max_move: float = 0.5  # ... evenly spaced up to this move of the price
    min_induced_move: float = 0.01  # significance: the move a cascade adds beyond its shock,
    min_liquidated_usd: float = 50_000_000.0  # ... and the USD it liquidates, at the least
    depth_quotes: tuple[str, ...] = ("USDC", "USDT", "DAI")  # what observed pools price in


@dataclass(frozen=True)
class StressShock:
    """A configured stress scenario: `asset` moved by `move` (−0.2: −20 %), the other assets
    by `betas` (the asset's configured betas when None)."""

    name: str
    asset: str
    move: float
    betas: Mapping[str, float] | None = None


@dataclass(frozen=True)
class ContagionConfig:
    """Joint cross-protocol contagion in the stream: on or off, how long a projection waits
    for every positions partition's reply in a round, and the stress shocks."""

    enabled: bool = True
    timeout: float = 5.0
    stress: tuple[StressShock, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs; build it with load_settings()."""

    broker: str = "kafka://127.0.0.1:9092"
    broker_flavor: str = "auto"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    canonical_url: str | None = None  # how other workers reach this one (default from host/port)
    config_path: Path | None = None
    data_dir: Path = Path("monitor-data")
    store: str = "memory://"
    partitions: int = 4
    grid_step: float = 0.0025
    recompute_share: float = 0.1  # most of the loop derived work of all features takes under load
    urgent_share: float = 0.5  # most of it one feature's passes take after a price move
    route_timeout: float = 5.0  # seconds a query forwarded to its key's owner may take
    web_token: str | None = field(default=None, repr=False)  # bearer token guarding the views
    metrics_open: bool = False  # /metrics served without the token
    app_id: str = "liquidation-monitor"
    rebalance_timeout: float = 10.0
    session_timeout: float = 10.0
    heartbeat_interval: float = 1.0
    max_record_bytes: int = Limits.max_record_bytes
    max_legs: int = Limits.max_legs
    max_assets: int = Limits.max_assets
    max_version: int = Limits.max_version
    version_margin: int = Limits.version_margin
    assets: Mapping[str, AssetConfig] = field(default_factory=dict)
    protocols: Mapping[str, ProtocolConfig] = field(default_factory=dict)
    cascade: CascadeConfig = field(default_factory=CascadeConfig)
    contagion: ContagionConfig = field(default_factory=ContagionConfig)

    @property
    def limits(self) -> Limits:
        """What one input record may hold (README "Reliability")."""
        return Limits(self.max_record_bytes, self.max_legs, self.max_assets, self.max_version,
                      self.version_margin)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests and `monitor run` use it)."""
        return replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The MONITOR_* variables that make load_settings() in a child process rebuild this."""
        env = {name: str(getattr(self, attr)) for name, (attr, _) in _ENV.items()
               if getattr(self, attr) is not None}
        if self.config_path is not None:
            env["MONITOR_CONFIG"] = str(self.config_path)
        return env


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    """A parser that also rejects zero, negative and non-finite numbers."""
    def parse(text: str) -> T:
        value = kind(text)
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(f"must be a positive number, got {text!r}")
        return value
    return parse


def _fraction(text: str) -> float:
    """A number in (0, 1]."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"must be in (0, 1], got {text!r}")
    return value


def _choice(options: tuple[str, ...], *, prefix: bool = False) -> Callable[[str], str]:
    """A parser accepting one of `options` (or a value starting with one, for URLs)."""
    def parse(text: str) -> str:
        ok = any(text.startswith(o) for o in options) if prefix else text in options
        if not ok:
            raise ValueError(f"must be {' or '.join(options)}, got {text!r}")
        return text
    return parse


def _flag(text: str) -> bool:
    """true/false, 1/0, yes/no."""
    lowered = text.strip().lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"must be true or false, got {text!r}")
    return lowered in ("true", "1", "yes")


def _broker_url(text: str) -> str:
    """A Kafka URL; a bare host:port gets the kafka:// scheme."""
    text = text.strip()
    if not text:
        raise ValueError("must not be empty")
    return text if "://" in text else f"kafka://{text}"


# environment variable -> (Settings attribute, parser)
_ENV: Final[dict[str, tuple[str, Callable[[str], Any]]]] = {
    "MONITOR_BROKER": ("broker", _broker_url),
    "MONITOR_BROKER_FLAVOR": ("broker_flavor", _choice(FLAVORS)),
    "MONITOR_WEB_HOST": ("web_host", str),
    "MONITOR_WEB_PORT": ("web_port", _positive(int)),
    "MONITOR_CANONICAL_URL": ("canonical_url", str),
    "MONITOR_DATA_DIR": ("data_dir", Path),
    "MONITOR_STORE": ("store", _choice(STORE_SCHEMES, prefix=True)),
    "MONITOR_PARTITIONS": ("partitions", _positive(int)),
    "MONITOR_GRID_STEP": ("grid_step", _positive(float)),
    "MONITOR_RECOMPUTE_SHARE": ("recompute_share", _fraction),
    "MONITOR_URGENT_SHARE": ("urgent_share", _fraction),
    "MONITOR_ROUTE_TIMEOUT": ("route_timeout", _positive(float)),
    "MONITOR_WEB_TOKEN": ("web_token", lambda text: text or None),
    "MONITOR_METRICS_OPEN": ("metrics_open", _flag),
    "MONITOR_APP_ID": ("app_id", str),
    "MONITOR_REBALANCE_TIMEOUT": ("rebalance_timeout", _positive(float)),
    "MONITOR_SESSION_TIMEOUT": ("session_timeout", _positive(float)),
    "MONITOR_HEARTBEAT_INTERVAL": ("heartbeat_interval", _positive(float)),
    "MONITOR_MAX_RECORD_BYTES": ("max_record_bytes", _positive(int)),
    "MONITOR_MAX_LEGS": ("max_legs", _positive(int)),
    "MONITOR_MAX_ASSETS": ("max_assets", _positive(int)),
    "MONITOR_MAX_VERSION": ("max_version", _positive(int)),
    "MONITOR_VERSION_MARGIN": ("version_margin", _positive(int)),
}


def toml_number(value: object, key: str, *, positive: bool = True) -> float:
    """A finite (positive) TOML number, or ConfigError naming `key`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key}: must be a number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{key}: must be positive, got {value!r}")
    return float(value)


def toml_table(value: object, key: str) -> dict[str, Any]:
    """A TOML table, or ConfigError naming `key`."""
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a table")
    return value


def check_keys(table: Mapping[str, Any], allowed: set[str], key: str) -> None:
    """Reject misspelt keys instead of silently ignoring them."""
    unknown = sorted(set(table) - allowed)
    if unknown:
        allowed_keys = ", ".join(sorted(allowed))
        raise ConfigError(f"{key}.{unknown[0]}: unknown key (allowed: {allowed_keys})")


def _asset(symbol: str, raw: object) -> AssetConfig:
    """Parse [assets.SYMBOL]."""
    key = f"assets.{symbol}"
    table = toml_table(raw, key)
    check_keys(table, {"depth_usd_2pct", "depth_exponent", "pool_reserve", "betas"}, key)
    betas = toml_table(table.get("betas", {}), f"{key}.betas")
    return AssetConfig(
        depth_usd_2pct=(toml_number(table["depth_usd_2pct"], f"{key}.depth_usd_2pct")
                        if "depth_usd_2pct" in table else None),
        depth_exponent=toml_number(table.get("depth_exponent", 1.0), f"{key}.depth_exponent"),
        pool_reserve=(toml_number(table["pool_reserve"], f"{key}.pool_reserve")
                      if "pool_reserve" in table else None),
        betas={other: toml_number(b, f"{key}.betas.{other}", positive=False)
               for other, b in betas.items()},
    )


def _protocol(name: str, raw: object) -> ProtocolConfig:
    """Parse [protocols.NAME]."""
    key = f"protocols.{name}"
    table = toml_table(raw, key)
    check_keys(table, {"close_factor"}, key)
    close_factor = toml_number(table.get("close_factor", 1.0), f"{key}.close_factor")
    if close_factor > 1:
        raise ConfigError(f"{key}.close_factor: must be at most 1, got {close_factor}")
    return ProtocolConfig(close_factor=close_factor)


def _stress(name: str, raw: object) -> StressShock:
    """Parse [contagion.stress.NAME]."""
    key = f"contagion.stress.{name}"
    table = toml_table(raw, key)
    check_keys(table, {"asset", "move", "betas"}, key)
    asset = table.get("asset")
    if not isinstance(asset, str) or not asset:
        raise ConfigError(f"{key}.asset: must be an asset name, got {asset!r}")
    move = toml_number(table.get("move"), f"{key}.move", positive=False)
    if move <= -1.0:
        raise ConfigError(f"{key}.move: must be above -1, got {move}")
    betas = None
    if "betas" in table:
        betas = {other: toml_number(b, f"{key}.betas.{other}", positive=False)
                 for other, b in toml_table(table["betas"], f"{key}.betas").items()}
    return StressShock(name, asset, move, betas)


def _contagion(raw: object) -> ContagionConfig:
    """Parse [contagion]."""
    table = toml_table(raw, "contagion")
    check_keys(table, {"enabled", "timeout", "stress"}, "contagion")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"contagion.enabled: must be true or false, got {enabled!r}")
    stress = toml_table(table.get("stress", {}), "contagion.stress")
    return ContagionConfig(enabled=enabled,
                           timeout=toml_number(table.get("timeout", 5.0), "contagion.timeout"),
                           stress=tuple(_stress(n, r) for n, r in stress.items()))


def _cascade(raw: object) -> CascadeConfig:
    """Parse [cascade]."""
    table = toml_table(raw, "cascade")
    check_keys(table, {"a_min", "levels", "max_move", "min_induced_move",
                        "min_liquidated_usd", "depth_quotes"}, "cascade")
    levels = table.get("levels", 200)
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ConfigError(f"cascade.levels: must be a positive integer, got {levels!r}")
    max_move = toml_number(table.get("max_move", 0.5), "cascade.max_move")
    if max_move >= 1:
        raise ConfigError(f"cascade.max_move: must be below 1, got {max_move}")
    defaults = CascadeConfig()
    quotes = table.get("depth_quotes", list(defaults.depth_quotes))
    if not isinstance(quotes, list) or not all(isinstance(q, str) and q for q in quotes):
        raise ConfigError(f"cascade.depth_quotes: must be a list of asset names, got {quotes!r}")
    return CascadeConfig(a_min=toml_number(table.get("a_min", 2.0), "cascade.a_min"),
                         levels=levels, max_move=max_move,
                         min_induced_move=toml_number(
                             table.get("min_induced_move", defaults.min_induced_move),
                             "cascade.min_induced_move", positive=False),
                         min_liquidated_usd=toml_number(
                             table.get("min_liquidated_usd", defaults.min_liquidated_usd),
                             "cascade.min_liquidated_usd", positive=False),
                         depth_quotes=tuple(quotes))


def _lay_over(base: dict[str, Any], override: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """`override`'s tables laid over `base`'s, merged `depth` levels deep (deeper ones
    replace whole)."""
    merged = dict(base)
    for key, value in override.items():
        if depth > 0 and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _lay_over(merged[key], value, depth - 1)
        else:
            merged[key] = value
    return merged


def read_model(path: Path | None) -> dict[str, Any]:
    """The shipped default model, with the sections of `path` (if any) laid over it: an asset,
    protocol, alert rule or receiver named in `path` replaces the default of that name."""
    text = resources.files("monitor").joinpath("default_config.toml").read_text("utf-8")
    merged = tomllib.loads(text)
    if path is None:
        return merged
    try:
        override = tomllib.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"MONITOR_CONFIG: cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    alerts = _lay_over(merged.get("alerts", {}), override.get("alerts", {}), 2)
    return {**_lay_over(merged, override, 1), "alerts": alerts}


def load_settings(path: str | Path | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment (MONITOR_*) and the TOML model file.

    `path` wins over MONITOR_CONFIG; without either, the shipped default_config.toml is used.
    Other top-level TOML tables (e.g. alert rules) are left to the components that own them.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, (attr, parse) in _ENV.items():
        if name in env:
            try:
                values[attr] = parse(env[name])
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from exc
    config_path = Path(path) if path is not None else (
        Path(env["MONITOR_CONFIG"]) if env.get("MONITOR_CONFIG") else None)
    model = read_model(config_path)
    return Settings(
        config_path=config_path,
        assets={s: _asset(s, raw)
                for s, raw in toml_table(model.get("assets", {}), "assets").items()},
        protocols={n: _protocol(n, raw)
                   for n, raw in toml_table(model.get("protocols", {}), "protocols").items()},
        cascade=_cascade(model.get("cascade", {})),
        contagion=_contagion(model.get("contagion", {})),
        **values,
    )
