"""The devnet's movable Chainlink-style price feed, compiled offline with solc-js and cached.

@aave/core-v3 ships only a MockAggregator without a setter, so ours (contracts/MockAggregator.sol)
is compiled here from source with the npm `solc` package, once per source change.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from monitor.devnet.artifacts import Artifact
from monitor.devnet.solc import compile_contracts

SOURCE = Path(__file__).with_name("contracts") / "MockAggregator.sol"
CONTRACT = "MockAggregator"
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "paris",  # runs on any post-merge chain, whatever anvil's default hardfork
}


@functools.cache
def aggregator_artifact() -> Artifact:
    """The compiled MockAggregator (compiled once per source, compiler and settings)."""
    return compile_contracts({SOURCE.name: SOURCE.read_text()}, [(SOURCE.name, CONTRACT)],
                             "solc", SETTINGS)[CONTRACT]
