"""Dead-letter counters exist from the start: every reason an input can be rejected with is
listed once, and each input topic's count of each starts at zero (0 on a dashboard, not no data)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.stream.app import build_stream
from monitor.wire import CLUSTER_PARTIALS, POSITIONS, PRICES, REASONS, Rejected

ROOT = Path(__file__).resolve().parents[2] / "monitor"


def literals() -> set[str]:
    """Every string literal passed as an argument in monitor/ (REASONS itself is a tuple)."""
    found = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                found |= {a.value for a in node.args if isinstance(a, ast.Constant)
                          and isinstance(a.value, str)}
    return found


def raised_reasons() -> set[object]:
    """The literal reason of every Rejected(...) in monitor/ (any constant: a non-string fails)."""
    found: set[object] = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Rejected"
                    and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    return found


def test_every_reason_listed_is_raised_somewhere() -> None:
    assert set(REASONS) <= literals()


def test_every_reason_raised_is_listed() -> None:
    assert raised_reasons() <= set(REASONS)


def test_an_unlisted_reason_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unlisted"):
        Rejected("no-such-reason", "detail")


def test_each_input_topic_counts_every_reason_from_zero() -> None:
    registry = build_stream(load_settings(environ={})).ctx.metrics.registry
    samples = [(family.name, s) for family in registry.collect() for s in family.samples
               if s.name.endswith("_total")]
    topics = {s.labels["topic"] for name, s in samples if name == "monitor_events_processed"}
    dead = {(s.labels["topic"], s.labels["reason"]): s.value for name, s in samples
            if name == "monitor_dead_letters"}
    assert {POSITIONS, PRICES, CLUSTER_PARTIALS} < topics
    assert dead == {(topic, reason): 0.0 for topic in topics for reason in REASONS}
