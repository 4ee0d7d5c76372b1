"""Integration fixtures shared across modules: one seeded Aave V3 + Morpho Blue devnet per test
session, and what a module running a chain-to-web stack on it shares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import pytest

from monitor.devnet.devnet import Devnet, start_devnet
from monitor.run.broker import EmbeddedBroker
from tests.integration.chain_stack import Stack

DEVNET_ACCOUNTS: Final = 300
DEVNET_SEED: Final = 0


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """Anvil with the real Aave V3 and Morpho Blue deployed, 300 seeded Aave accounts and 75
    Morpho positions (about a second to start once Morpho is compiled).

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


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One Tansu broker for a whole module (its stack's worker and ingester share it)."""
    with EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log") as running:
        yield running


@pytest.fixture(scope="module")
def module_chain(devnet: Devnet) -> Iterator[Devnet]:
    """The session devnet, put back as the module found it."""
    snapshot = devnet.snapshot()
    yield devnet
    devnet.revert(snapshot)


@pytest.fixture
def restored(stack: Stack) -> Iterator[Stack]:
    """The module's stack (its own `stack` fixture), with the chain reverted after the test."""
    snapshot = stack.devnet.snapshot()
    try:
        yield stack
    finally:
        stack.revert(snapshot)
