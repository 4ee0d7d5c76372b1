"""The follower's checkpoint: atomic saves, the recent-block window, rewinds and identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.sources.evm.checkpoint import (
    Checkpoint,
    CheckpointError,
    RecentBlock,
    Touched,
    load_checkpoint,
    save_checkpoint,
)

SOURCE = "aave-v3:0xpool"
OTHER = "morpho-blue:0xmorpho"


def test_checkpoint_round_trip_window_and_rewind(tmp_path: Path) -> None:
    path = tmp_path / "cp" / "ingest.json"
    cp = Checkpoint(31337, (SOURCE, OTHER), 10)
    cp.record([RecentBlock(n, f"0x{n:064x}", {SOURCE: Touched([f"0xa{n}"], [])})
               for n in range(5, 11)], window=4)
    assert [b.number for b in cp.recent] == [7, 8, 9, 10]
    assert cp.hash == f"0x{10:064x}"
    cp.pending_for(SOURCE).accounts["0xa1"] = 9
    save_checkpoint(path, cp)
    save_checkpoint(path, cp)
    assert [p.name for p in path.parent.iterdir()] == ["ingest.json"]  # no temp files left
    loaded = load_checkpoint(path, 31337, [OTHER, SOURCE])
    assert loaded == cp
    dropped = loaded.rewind(8)
    assert [b.number for b in dropped] == [9, 10] and loaded.block == 8
    assert loaded.hash == f"0x{8:064x}"
    assert loaded.pending_for(SOURCE).accounts == {"0xa1": 9, "0xa9": 10, "0xa10": 11}
    assert loaded.pending_for(OTHER).accounts == {}  # bookkeeping is per source
    assert load_checkpoint(tmp_path / "absent.json", 1, [SOURCE, OTHER]) is None
    with pytest.raises(CheckpointError, match="chain 31337"):
        load_checkpoint(path, 1, [SOURCE, OTHER])
    with pytest.raises(CheckpointError, match="sources"):
        load_checkpoint(path, 31337, [SOURCE])
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match="malformed"):
        load_checkpoint(path, 31337, [SOURCE, OTHER])
