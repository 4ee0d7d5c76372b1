"""The [alerts] section of the TOML model file: rules (what to watch, thresholds, hysteresis,
hold and repeat) and receivers (where notifications go, each with its filter). Secrets are never
in the file: a receiver names the environment variables that hold them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from monitor.config import ConfigError, check_keys, read_model, toml_number, toml_table

# rule kind -> whether it fires when its measure is "below" or "above" the threshold
RULE_KINDS: Final = {
    "cascade_proximity": "below",      # distance from price to a significant trigger
    "liquidatable_value": "above",     # USD liquidated by a `move` against a side
    "liquidatable_growth": "above",    # growth of that value over `window` seconds
    "oracle_stale": "above",           # age of the last update, in feed heartbeats
    "oracle_jump": "above",            # relative change of one price update
    "position_near_liquidation": "below",  # health factor − 1 of a position over min_usd
    "bad_debt": "above",               # projected bad debt at the nearest trigger
}
RECEIVER_KINDS: Final = ("console", "webhook", "slack", "discord", "pagerduty", "alertmanager")
SEVERITIES: Final = ("critical", "warning", "info")
# Standard Webhooks' schedule: now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h
STANDARD_SCHEDULE: Final = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0,
                            72000.0, 86400.0)
PAGERDUTY_EVENTS_URL: Final = "https://events.pagerduty.com/v2/enqueue"
NAME_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RULE_KEYS: Final = {"kind", "severity", "threshold", "margin", "hold", "repeat", "labels",
                    "enabled", "move", "window", "min_usd", "heartbeat", "heartbeats", "assets",
                    "sides"}
RECEIVER_KEYS: Final = {"kind", "enabled", "url", "url_env", "secret_env", "routing_key_env",
                        "severities", "match", "timeout", "retry_schedule", "jitter",
                        "give_up_after", "queue_size", "resend_interval"}


@dataclass(frozen=True)
class RuleConfig:
    """One alert rule: its measure crosses `threshold` to fire and must come back past it by
    `margin` (a fraction of the threshold) to resolve; `hold` seconds before firing, a repeat
    notification every `repeat` seconds while firing (0: none)."""

    name: str
    kind: str
    severity: str = "warning"
    threshold: float = 0.0
    margin: float = 0.2
    hold: float = 0.0
    repeat: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    move: float = 0.05
    window: float = 900.0
    min_usd: float = 0.0
    heartbeat: float = 3600.0
    heartbeats: Mapping[str, float] = field(default_factory=dict)
    assets: tuple[str, ...] = ()
    sides: tuple[str, ...] = ("down", "up")

    @property
    def direction(self) -> str:
        """"below" or "above": which side of the threshold fires."""
        return RULE_KINDS[self.kind]

    def heartbeat_of(self, asset: str) -> float:
        """Seconds between the updates of `asset`'s oracle feed at the latest."""
        return self.heartbeats.get(asset, self.heartbeat)

    def watches(self, asset: str) -> bool:
        """Whether the rule applies to `asset` (every asset unless `assets` lists some)."""
        return not self.assets or asset in self.assets


@dataclass(frozen=True)
class ReceiverConfig:
    """One receiver: its kind, where its secrets are (environment variable names), which
    alerts it takes, and how its deliveries are retried."""

    name: str
    kind: str
    url: str | None = None
    url_env: str | None = None
    secret_env: str | None = None
    routing_key_env: str | None = None
    severities: tuple[str, ...] = ()
    match: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    retry_schedule: tuple[float, ...] = STANDARD_SCHEDULE
    jitter: float = 0.1
    give_up_after: float = 3 * 86400.0
    queue_size: int = 10_000
    resend_interval: float = 60.0

    def takes(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with these labels goes to this receiver."""
        if self.severities and labels.get("severity") not in self.severities:
            return False
        return all(labels.get(k) == v for k, v in self.match.items())


@dataclass(frozen=True)
class AlertingConfig:
    """Every enabled rule and receiver, and how long resolved alerts stay listed."""

    rules: Mapping[str, RuleConfig] = field(default_factory=dict)
    receivers: Mapping[str, ReceiverConfig] = field(default_factory=dict)
    retention: float = 3600.0


def _texts(value: object, key: str) -> dict[str, str]:
    """A TOML table of strings."""
    table = toml_table(value, key)
    if not all(isinstance(v, str) for v in table.values()):
        raise ConfigError(f"{key}: values must be strings")
    return dict(table)


def _words(value: object, key: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """A TOML array of strings (each one of `allowed`, if given)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: must be an array of strings")
    wrong = [v for v in value if allowed is not None and v not in allowed]
    if wrong:
        raise ConfigError(f"{key}: {wrong[0]!r} is not one of {', '.join(allowed or ())}")
    return tuple(value)


def _name(value: object, key: str) -> str | None:
    """An optional environment variable name (or URL) given as a string."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: must be a non-empty string")
    return value


def _entry(section: str, name: str, raw: object, keys: set[str],
           kinds: Any) -> tuple[str, dict[str, Any], str] | None:
    """(key, table, kind) of [alerts.SECTION.NAME], checked; None when disabled."""
    key = f"alerts.{section}.{name}"
    table = toml_table(raw, key)
    check_keys(table, keys, key)
    kind = table.get("kind")
    if kind not in kinds:
        raise ConfigError(f"{key}.kind: must be one of {', '.join(kinds)}, got {kind!r}")
    if table.get("enabled", True) is False:
        return None
    return key, table, str(kind)


def _rule(name: str, key: str, table: dict[str, Any], kind: str) -> RuleConfig:
    """Parse [alerts.rules.NAME] (`key`), an enabled rule of `kind`."""
    defaults = RuleConfig(name, kind)
    severity = table.get("severity", defaults.severity)
    if severity not in SEVERITIES:
        raise ConfigError(f"{key}.severity: must be one of {', '.join(SEVERITIES)}")

    def number(field_: str, positive: bool = False) -> float:
        """A number of the rule (its default when absent)."""
        return toml_number(table.get(field_, getattr(defaults, field_)), f"{key}.{field_}",
                           positive=positive)

    heartbeats = toml_table(table.get("heartbeats", {}), f"{key}.heartbeats")
    return RuleConfig(
        name=name, kind=kind, severity=str(severity), threshold=number("threshold", True),
        margin=number("margin"), hold=number("hold"), repeat=number("repeat"),
        labels=_texts(table.get("labels", {}), f"{key}.labels"), move=number("move", True),
        window=number("window", True), min_usd=number("min_usd"),
        heartbeat=number("heartbeat", True),
        heartbeats={a: toml_number(v, f"{key}.heartbeats.{a}") for a, v in heartbeats.items()},
        assets=_words(table.get("assets", []), f"{key}.assets"),
        sides=_words(table.get("sides", ["down", "up"]), f"{key}.sides", ("down", "up")))


def _receiver(name: str, key: str, table: dict[str, Any], kind: str) -> ReceiverConfig:
    """Parse [alerts.receivers.NAME] (`key`), an enabled receiver of `kind`."""
    defaults = ReceiverConfig(name, kind)
    schedule = table.get("retry_schedule", list(defaults.retry_schedule))
    if not isinstance(schedule, list) or not schedule:
        raise ConfigError(f"{key}.retry_schedule: must be a non-empty array of seconds")
    queue_size = table.get("queue_size", defaults.queue_size)
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise ConfigError(f"{key}.queue_size: must be a positive integer")
    receiver = ReceiverConfig(
        name=name, kind=kind, url=_name(table.get("url"), f"{key}.url"),
        url_env=_name(table.get("url_env"), f"{key}.url_env"),
        secret_env=_name(table.get("secret_env"), f"{key}.secret_env"),
        routing_key_env=_name(table.get("routing_key_env"), f"{key}.routing_key_env"),
        severities=_words(table.get("severities", []), f"{key}.severities", SEVERITIES),
        match=_texts(table.get("match", {}), f"{key}.match"),
        timeout=toml_number(table.get("timeout", defaults.timeout), f"{key}.timeout"),
        retry_schedule=tuple(toml_number(s, f"{key}.retry_schedule", positive=False)
                             for s in schedule),
        jitter=toml_number(table.get("jitter", defaults.jitter), f"{key}.jitter",
                           positive=False),
        give_up_after=toml_number(table.get("give_up_after", defaults.give_up_after),
                                  f"{key}.give_up_after"),
        queue_size=queue_size,
        resend_interval=toml_number(table.get("resend_interval", defaults.resend_interval),
                                    f"{key}.resend_interval"))
    needs = {"webhook": ("url_env",), "slack": ("url_env",), "discord": ("url_env",),
             "pagerduty": ("routing_key_env",), "alertmanager": ()}.get(kind, ())
    for needed in needs:
        if getattr(receiver, needed) is None:
            raise ConfigError(f"{key}.{needed}: a {kind} receiver needs it")
    if kind == "alertmanager" and receiver.url is None and receiver.url_env is None:
        raise ConfigError(f"{key}.url: an alertmanager receiver needs url or url_env")
    return receiver


def parse_alerting(raw: object) -> AlertingConfig:
    """Parse the [alerts] table."""
    table = toml_table(raw, "alerts")
    check_keys(table, {"rules", "receivers", "retention"}, "alerts")
    for section in ("rules", "receivers"):
        for name in toml_table(table.get(section, {}), f"alerts.{section}"):
            if not NAME_RE.match(name):
                raise ConfigError(f"alerts.{section}.{name}: names are 1-64 of [A-Za-z0-9_-]")
    rules = {n: _rule(n, *entry) for n, raw_ in table.get("rules", {}).items()
             if (entry := _entry("rules", n, raw_, RULE_KEYS, RULE_KINDS)) is not None}
    receivers = {n: _receiver(n, *entry) for n, raw_ in table.get("receivers", {}).items()
                 if (entry := _entry("receivers", n, raw_, RECEIVER_KEYS, RECEIVER_KINDS))
                 is not None}
    return AlertingConfig(rules, receivers,
                          toml_number(table.get("retention", 3600.0), "alerts.retention"))


def load_alerting(config_path: Path | None) -> AlertingConfig:
    """The alerting configuration of the model file (the shipped defaults without one)."""
    return parse_alerting(read_model(config_path).get("alerts", {}))
