"""`--once` ingests of some of the devnet's sources, and the reorg and restart scenarios every
protocol's ingest must survive: the published state ends equal to a fresh ingest of the chain as
it is, and a replay from an older checkpoint repeats versions with identical state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor.devnet.devnet import Devnet
from monitor.sources.evm.adapter import SourceConfig
from monitor.sources.evm.follower import FollowConfig, Stats
from monitor.sources.ingest import ingest
from tests.integration.records import count, final_state, fresh_state, read_topics, strip

State = dict[tuple[str, str], dict[str, Any]]


@dataclass(frozen=True)
class Runs:
    """Ingests of `sources` on the devnet from `from_block` to the head, no confirmations."""

    devnet: Devnet
    bootstrap: str
    sources: list[SourceConfig]
    from_block: int

    def config(self, checkpoint: Path | None = None) -> FollowConfig:
        """A `--once` follow, resuming `checkpoint` when given."""
        return FollowConfig(from_block=self.from_block, confirmations=0, checkpoint=checkpoint,
                            once=True, poll_interval=0.05)

    async def once(self, checkpoint: Path, rpc_url: str | None = None) -> Stats:
        """One `--once` ingest into the broker (over `rpc_url`, default the devnet's HTTP)."""
        return await ingest(rpc_url or self.devnet.rpc_url, self.bootstrap, self.sources,
                            self.config(checkpoint))

    async def fresh(self) -> State:
        """Final state of a fresh, single-pass ingest of the chain as it is now."""
        return await fresh_state(self.devnet.rpc_url, self.sources, self.config())

    async def reorg(self, tmp_path: Path, orphaned: Callable[[], None],
                    kept: Callable[[], None]) -> State:
        """Ingest, make the `orphaned` changes and ingest them, revert them and make the `kept`
        ones on a longer branch: the next ingest sees one reorg and leaves the state of a
        fresh ingest (amounts to 1e-6: interest accrues between reads). The final state."""
        checkpoint, chain = tmp_path / "cp.json", self.devnet
        published = count(await self.once(checkpoint))
        fork = chain.snapshot()
        orphaned()
        published += count(await self.once(checkpoint))
        orphaned_head = chain.block_number()
        chain.revert(fork)
        kept()
        chain.mine(max(orphaned_head - chain.block_number() + 1, 1))
        after = await self.once(checkpoint)
        assert after.reorgs == 1
        published += count(after)
        state = final_state(await read_topics(self.bootstrap, published))
        reference = await self.fresh()
        assert state.keys() == reference.keys()
        for key, value in reference.items():
            got = state[key]
            if key[0] == "prices":
                assert got["price"] == value["price"], key
                continue
            assert strip(got) == strip(value), key
            for side in ("collateral", "debt"):
                for mine, ref in zip(got[side], value[side], strict=True):  # interest accrues
                    assert float(mine["amount"]) == pytest.approx(float(ref["amount"]),
                                                                  rel=1e-6)
        return state

    async def restart(self, tmp_path: Path, changes: Callable[[], None]) -> State:
        """Ingest, make `changes`, ingest them, then again from the checkpoint written before
        them (as after a crash): the replay publishes the same records, a third run nothing,
        and every version carries one state, that of a fresh ingest. The final state."""
        checkpoint = tmp_path / "cp.json"
        published = count(await self.once(checkpoint))
        crashed = tmp_path / "crashed.json"  # a checkpoint from before the next run's publishes
        crashed.write_bytes(checkpoint.read_bytes())
        changes()
        again = count(await self.once(checkpoint))
        assert again > 0
        replayed = count(await self.once(crashed))  # reprocess as after a crash
        assert replayed == again
        assert count(await self.once(checkpoint)) == 0  # nothing new, nothing sent
        published += again + replayed
        records = await read_topics(self.bootstrap, published)
        assert len(records) == published
        by_version: dict[tuple[str, str, tuple[int, int]], dict[str, Any]] = {}
        for topic, key, value in records:
            seen = by_version.setdefault((topic, key, tuple(value["version"])), value)
            assert seen == value, "a replayed version must carry identical state"
        state = final_state(records)
        assert state == await self.fresh()
        return state
