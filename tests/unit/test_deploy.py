"""deploy/: the Prometheus config, rules and Grafana dashboard are valid and consistent with
the code (docker-compose.yml: test_compose.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import load_settings
from monitor.risk import ClusterGrid, PowerLawDepth, build_clusters, from_snapshot
from monitor.stream.app import build_stream
from monitor.stream.cascades.projection import project
from monitor.stream.depth import DepthProvenance
from monitor.wire import PriceUpdate

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "liquidations.json"

# PromQL words that are not metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "and",
            "or", "unless", "bool", "inf", "nan", "time"}


# Sample names a metric family of each type exposes.
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count", ""), "gauge": ("",)}


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Every series name the worker's registry exports (live gauges filled with one asset)."""
    stream = build_stream(load_settings(environ={}))
    prices = {"WETH": 3000.0, "USDC": 1.0}
    for asset, price in prices.items():
        stream.prices.offer(PriceUpdate(asset, price, (1, 0), 0.0, "test"))
    position = from_snapshot({
        "position_id": "p", "protocol": "aave-v3", "account": "0x1", "kind": "lending",
        "collateral": [{"asset": "WETH", "amount": 1000.0, "liquidation_threshold": 0.8}],
        "debt": [{"asset": "USDC", "amount": 2_300_000.0}], "version": [1, 0]})
    clusters = build_clusters([position], "WETH", prices, ClusterGrid())
    stream.cascades.projections["WETH"] = project(
        "WETH", clusters, 3000.0, PowerLawDepth(1e6), DepthProvenance("configured"),
        stream.ctx.settings.cascade, 0.0, {})
    assert stream.cascades.projections["WETH"]["down"]["trigger_price"] is not None
    return {family.name + suffix for family in stream.ctx.metrics.registry.collect()
            for suffix in SUFFIXES.get(family.type, ("",))}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run Debian's promtool (installed by scripts/setup.sh --test)."""
    binary = shutil.which("promtool") or "/usr/bin/promtool"
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False)


def metric_names(expr: str) -> set[str]:
    """Metric (or recorded series) names a PromQL expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\boffset\s+\d+[smhdwy]", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\s*(\()?", expr):
        if not match.group(2) and match.group(1).lower() not in KEYWORDS:
            names.add(match.group(1))
    return names


def rules() -> list[dict[str, Any]]:
    """Every rule of every rule file."""
    out: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(group["rules"])
    return out


def dashboard_exprs() -> list[str]:
    """Every PromQL expression in the Grafana dashboard."""
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


def test_promtool_accepts_the_config() -> None:
    done = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_rules() -> None:
    assert len(RULE_FILES) >= 2
    done = promtool("check", "rules", *map(str, RULE_FILES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_unit_tests_pass() -> None:
    done = promtool("test", "rules", str(PROMETHEUS / "tests" / "rules_test.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_four_alerts_exist_with_summaries() -> None:
    alerts = {r["alert"]: r for r in rules() if "alert" in r}
    assert set(alerts) >= {"PriceNearCascadeTrigger", "LiquidatableWithinFivePercentJumped",
                           "OracleStale", "DeadLettersRising"}
    assert all(r["annotations"]["summary"] and r["labels"]["severity"] for r in alerts.values())


def test_metric_name_extraction() -> None:
    expr = ('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y(z)"}[5m]))) '
            '> 1.5 * (b:c:d offset 15m) and on (asset) e')
    assert metric_names(expr) == {"a_bucket", "b:c:d", "e"}


def test_dashboard_is_valid_and_uses_the_provisioned_datasource() -> None:
    doc = json.loads(DASHBOARD.read_text())
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    assert doc["uid"] and doc["panels"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for panel in doc["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
        assert panel["targets"], panel["title"]
    titles = " ".join(p["title"].lower() for p in doc["panels"])
    for topic in ("cluster", "trigger", "amplification", "1 / 5 / 10 %", "events", "dead",
                  "latency"):
        assert topic in titles


@pytest.mark.parametrize("expr", dashboard_exprs())
def test_dashboard_exprs_name_exported_or_recorded_series(expr: str,
                                                          exported: set[str]) -> None:
    recorded = {r["record"] for r in rules() if "record" in r}
    assert metric_names(expr), expr
    assert metric_names(expr) <= exported | recorded, expr


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.get("record") or r["alert"])
def test_rules_name_exported_or_recorded_series(rule: dict[str, Any], exported: set[str]) -> None:
    recorded = {r["record"] for r in rules() if "record" in r}
    assert metric_names(rule["expr"]) <= exported | recorded, rule["expr"]
