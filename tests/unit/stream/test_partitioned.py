"""A table's values read one partition at a time: the RocksDB store's per-partition databases
yield exactly what the app's hash places in each wanted partition, as the memory store's
hashed keys do."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.types import TP

from monitor.stream.context import partition_of
from monitor.stream.partitioned import partition_values

PARTITIONS = 4
KEYS = [f"bench:{i}" for i in range(200)]


def place(key: str) -> int:
    """The app's hash over this test's partitions."""
    return partition_of(key, PARTITIONS)


def expected(wanted: set[int]) -> list[tuple[int, bytes]]:
    """What the app's hash places in `wanted`, in the reader's order."""
    return sorted((place(k), k.encode() * 2) for k in KEYS if place(k) in wanted)


def table(store: str, tmp_path: Path) -> Any:
    """A raw-valued table of this store holding every key on its hashed partition, written as
    recovery writes it (one changelog batch; RocksDB also records its offsets)."""
    app = faust.App(f"partitioned-{store[:6]}", store=store, datadir=str(tmp_path),
                    key_serializer="raw", value_serializer="raw")
    created: Any = app.Table("snapshots", partitions=PARTITIONS, key_type=str, value_type=bytes)
    if store == "memory://":
        for key in KEYS:
            created.data[key] = key.encode() * 2
        return created
    topic = created.changelog_topic.get_topic_name()
    created.data.apply_changelog_batch([SimpleNamespace(message=SimpleNamespace(
        tp=TP(topic, place(k)), offset=i, partition=place(k), key=k.encode(),
        value=k.encode() * 2)) for i, k in enumerate(KEYS)], None, None)
    return created


@pytest.mark.parametrize("store", ["rocksdb://", "memory://"])
def test_each_wanted_partition_yields_exactly_its_hashed_keys_values(store: str,
                                                                      tmp_path: Path) -> None:
    held = table(store, tmp_path)
    for wanted in ({0, 2}, set(range(PARTITIONS)), set()):
        assert sorted(partition_values(held, wanted, place)) == expected(wanted)
