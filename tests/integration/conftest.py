"""Integration fixtures shared across modules: one seeded Aave V3 + Morpho Blue devnet per test
session, and what a module running a chain-to-web stack on it shares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import pytest

from monitor.devnet.devnet import Devnet, start_devnet
from monitor.run.broker import EmbeddedBroker
from tests.integration.chain_stack import Stack
from tests.integration.stream_harness import (
    Worker,
    eventually,
    ready,
    running,
    start_worker,
    worker_settings,
)

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


@pytest.fixture(scope="module")
def module_pair(module_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[list[Worker]]:
    """Two workers of one group on the module's broker, both ready, the partitions split
    between them."""
    base = tmp_path_factory.mktemp("workers")
    pair = [start_worker(worker_settings(module_broker.url, base / name), base / f"{name}.log")
            for name in ("a", "b")]
    with running(pair):
        for worker in pair:
            ready(worker)

        def split() -> None:
            owned = [set(w.get("/health/")[1]["partitions"]) for w in pair]
            assert owned[0] and owned[1] and not owned[0] & owned[1]
            assert owned[0] | owned[1] == {0, 1, 2, 3}
        eventually(split, timeout=90)
        yield pair
