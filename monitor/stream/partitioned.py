"""Reading a table's local store one partition at a time, so a rebuild neither hashes a key
nor decodes a value of a partition it does not want.

Faust's RocksDB store keeps one database per table partition, filled from that changelog
partition or by events of that partition, and the app writes a key only to the partition
partition_of places it on: a database's keys are exactly its partition's. Any other store (the
memory store) is one mapping, so there each key is placed by the app's hash.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from faust.stores.rocksdb import Store as RocksDBStore


def partition_values(table: Any, partitions: Collection[int],
                     partition_of: Callable[[str], int]) -> Iterator[tuple[int, Any]]:
    """(partition, value) of every key the table's local store holds in `partitions`."""
    store = table.data
    if not isinstance(store, RocksDBStore):
        for key, value in store.items():
            partition = partition_of(key)
            if partition in partitions:
                yield partition, value
        return
    decode = store._decode_value
    for partition in sorted(partitions):
        db = store._dbs.get(partition)
        if db is not None:
            for _, raw in store._visible_items(db):
                yield partition, decode(raw)
