"""Shared fixtures: real services started on loopback for integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.run.broker import EmbeddedBroker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A fresh Tansu broker (memory storage) per test, so topics never leak between tests."""
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as running:
        yield running
