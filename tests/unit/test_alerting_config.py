"""The [alerts] section: defaults, a file laid over them rule by rule, misspelt keys and missing
environment variables named (never their values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.alerting.config import STANDARD_SCHEDULE, load_alerting, parse_alerting
from monitor.alerting.delivery import endpoint_for
from monitor.config import ConfigError, load_settings


def test_defaults_ship_every_rule_kind_and_the_console_receiver() -> None:
    cfg = load_alerting(None)
    assert {r.kind for r in cfg.rules.values()} == {
        "cascade_proximity", "liquidatable_value", "liquidatable_growth", "oracle_stale",
        "oracle_jump", "position_near_liquidation", "bad_debt"}
    assert list(cfg.receivers) == ["console"]
    assert cfg.rules["oracle-stale"].heartbeat_of("USDC") == 86400.0
    assert cfg.rules["oracle-stale"].heartbeat_of("WETH") == 3600.0


def test_a_file_replaces_rules_by_name_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[alerts.rules.bad-debt]\nkind = "bad_debt"\nthreshold = 5.0\n'
                    '[alerts.rules.oracle-jump]\nkind = "oracle_jump"\nenabled = false\n'
                    '[alerts.receivers.ops]\nkind = "webhook"\nurl_env = "OPS_URL"\n'
                    'severities = ["critical"]\nmatch = {asset = "WETH"}\n')
    cfg = load_alerting(path)
    assert cfg.rules["bad-debt"].threshold == 5.0 and cfg.rules["bad-debt"].margin == 0.2
    assert "oracle-jump" not in cfg.rules and "cascade-proximity" in cfg.rules
    ops = cfg.receivers["ops"]
    assert ops.retry_schedule == STANDARD_SCHEDULE and set(cfg.receivers) == {"console", "ops"}
    assert ops.takes({"severity": "critical", "asset": "WETH"})
    assert not ops.takes({"severity": "warning", "asset": "WETH"})
    assert not ops.takes({"severity": "critical", "asset": "WBTC"})
    assert load_settings(path, environ={}).assets["WETH"].depth_usd_2pct == 150_000_000.0


@pytest.mark.parametrize(("raw", "message"), [
    ({"rules": {"x": {"kind": "oracle_jump", "treshold": 1}}}, "alerts.rules.x.treshold"),
    ({"rules": {"x": {"kind": "nope"}}}, "alerts.rules.x.kind"),
    ({"rules": {"x": {"kind": "oracle_jump", "severity": "loud"}}}, "alerts.rules.x.severity"),
    ({"rules": {"bad name": {"kind": "oracle_jump"}}}, "names are"),
    ({"receivers": {"s": {"kind": "slack"}}}, "alerts.receivers.s.url_env"),
    ({"receivers": {"a": {"kind": "alertmanager"}}}, "alerts.receivers.a.url"),
    ({"receivers": {"w": {"kind": "webhook", "url_env": "U", "retry_schedule": []}}},
     "retry_schedule"),
    ({"retension": 5}, "alerts.retension"),
])
def test_bad_alerting_config_names_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_alerting(raw)


def test_secrets_come_from_the_environment_and_a_missing_one_is_named() -> None:
    cfg = parse_alerting({"receivers": {
        "w": {"kind": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
        "p": {"kind": "pagerduty", "routing_key_env": "PD_KEY"}}})
    endpoint = endpoint_for(cfg.receivers["w"], {"HOOK_URL": "https://h/x", "HOOK_SECRET": "s"})
    assert (endpoint.url, endpoint.secret) == ("https://h/x", "s")
    assert "https://h/x" not in repr(endpoint) and "'s'" not in repr(endpoint)
    pagerduty = endpoint_for(cfg.receivers["p"], {"PD_KEY": "k"})
    assert pagerduty.url == "https://events.pagerduty.com/v2/enqueue"
    with pytest.raises(ConfigError, match="HOOK_SECRET is not set") as caught:
        endpoint_for(cfg.receivers["w"], {"HOOK_URL": "https://h/x"})
    assert "https://h/x" not in str(caught.value)
