"""Seeded Morpho Blue positions to open on the devnet: who borrows in which market, how much, at
which health factor.

A third of them belong to accounts already seeded on Aave (they hold positions in both
protocols), the rest to fresh accounts, one in five of which borrows in two markets. Health
factors and sizes are drawn as Aave's are; the borrow is computed with Morpho's own arithmetic
at the oracle price the market starts with, so the chain's health factor is the drawn one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from eth_utils.crypto import keccak

from monitor.devnet.morpho_deploy import MARKETS, MarketSpec, oracle_price
from monitor.devnet.position_plans import draw_health_factor, draw_size
from monitor.risk.morpho_blue import WAD, max_borrow

POSITIONS_PER_AAVE_ACCOUNT: Final = 0.25  # Morpho positions seeded beside each Aave account
SHARED: Final = 1 / 3  # share of Morpho positions held by an account seeded on Aave
TWO_MARKETS: Final = 0.2  # share of fresh accounts borrowing in a second market
MARKET_WEIGHTS: Final = {"WETH/USDC": 0.5, "WBTC/USDC": 0.3, "LINK/USDC": 0.2}


@dataclass(frozen=True)
class MorphoPlan:
    """One position to open: collateral supplied and assets borrowed, in token base units."""

    account: str
    market: str
    target_health_factor: float
    collateral: int
    borrow: int


def morpho_account(seed: int, index: int) -> str:
    """A deterministic, key-less address for fresh Morpho account `index` (never an Aave one)."""
    digest = keccak(b"monitor-devnet-morpho-account" + seed.to_bytes(8, "big", signed=True)
                    + index.to_bytes(8, "big"))
    return "0x" + digest[12:].hex()


def _owners(rng: random.Random, n_positions: int, seed: int, first_index: int,
            aave_accounts: Sequence[str]) -> list[str]:
    """Who holds each position: Aave accounts (each once) for SHARED of them, fresh accounts for
    the rest, TWO_MARKETS of which appear twice."""
    shared = rng.sample(list(aave_accounts), min(round(n_positions * SHARED), len(aave_accounts)))
    owners = list(shared)
    index = first_index
    while len(owners) < n_positions:
        account = morpho_account(seed, index)
        index += 1
        owners.append(account)
        if len(owners) < n_positions and rng.random() < TWO_MARKETS:
            owners.append(account)
    return owners


def plan_morpho_positions(n_positions: int, seed: int, aave_accounts: Sequence[str],
                          answers: Mapping[str, int], decimals: Mapping[str, int],
                          first_index: int = 0,
                          markets: tuple[MarketSpec, ...] = MARKETS) -> list[MorphoPlan]:
    """`n_positions` positions (deterministic in `seed`) at the markets' oracle prices for the
    aggregators' `answers`: borrow = what the collateral may borrow / the drawn health factor;
    an account holding two positions holds them in two markets."""
    rng = random.Random(seed * 1_000_033 + first_index + 7)
    specs = {m.name: m for m in markets}
    names = [name for name in MARKET_WEIGHTS if name in specs]
    plans: list[MorphoPlan] = []
    taken: set[tuple[str, str]] = set()
    for account in _owners(rng, n_positions, seed, first_index, aave_accounts):
        name = rng.choices(names, weights=[MARKET_WEIGHTS[n] for n in names])[0]
        if (account, name) in taken:
            name = next(n for n in names if (account, n) not in taken)
        taken.add((account, name))
        spec = specs[name]
        d_c, d_l = decimals[spec.collateral], decimals[spec.loan]
        price = oracle_price(answers[spec.collateral], answers[spec.loan], d_c, d_l)
        collateral = max(int(draw_size(rng) / answers[spec.collateral] * 1e8 * 10**d_c), 1)
        target = draw_health_factor(rng)
        borrow = int(max_borrow(collateral, price, round(spec.lltv * WAD)) / target)
        plans.append(MorphoPlan(account, name, target, collateral, max(borrow, 1)))
    return plans
