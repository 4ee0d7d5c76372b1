"""Integration fixtures shared across modules: one seeded Aave V3 devnet per test session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import pytest

from monitor.devnet.devnet import Devnet, start_devnet

DEVNET_ACCOUNTS: Final = 300
DEVNET_SEED: Final = 0


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """Anvil with the real Aave V3 deployed and 300 seeded accounts (about a second to start).

    Shared by every test of the session: a test that changes the chain reverts it, e.g. through
    `clean_devnet`."""
    log = tmp_path_factory.mktemp("devnet") / "anvil.log"
    with start_devnet(n_accounts=DEVNET_ACCOUNTS, seed=DEVNET_SEED, log_path=log) as running:
        yield running


@pytest.fixture
def clean_devnet(devnet: Devnet) -> Iterator[Devnet]:
    """The shared devnet, put back as the test found it (evm_snapshot / evm_revert)."""
    snapshot = devnet.snapshot()
    yield devnet
    devnet.revert(snapshot)
