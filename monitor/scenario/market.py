"""A synthetic lending + perp market, generated column-wise with numpy and deterministic by seed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from monitor.scenario.assets import start_prices
from monitor.scenario.protocols import LENDING, PERPS, LendingMarket

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_POSITIONS: Final = 1
MAX_POSITIONS: Final = 1_000_000
BASE_BLOCK: Final = 19_000_000
BASE_TIMESTAMP: Final = 1_700_000_000.0
SIZE_MEDIAN_USD: Final = 15_000.0  # log-normal collateral / notional: median and log spread
SIZE_SIGMA: Final = 1.9
SIZE_BOUNDS_USD: Final = (50.0, 3e8)
PERP_ENTRY_SPREAD: Final = 0.04  # perps were opened at log-normally scattered prices
PERP_MIN_HEALTH: Final = 1.05  # an underwater perp would have been liquidated: reopen at spot


def health_factors(rng: np.random.Generator, n: int) -> FloatArray:
    """Health factors piled up just above 1 (leveraged loops), a moderate body, a long tail."""
    mode = rng.choice(3, size=n, p=[0.55, 0.35, 0.10])
    levered = 1.0 + rng.gamma(1.2, 0.12, size=n)
    moderate = 1.0 + rng.lognormal(np.log(0.6), 0.6, size=n)
    conservative = 1.0 + rng.lognormal(np.log(3.0), 0.8, size=n)
    hf: FloatArray = np.choose(mode, [levered, moderate, conservative])
    return hf


@dataclass(frozen=True)
class Market:
    """Positions as columns: one row per position, one row per leg for lending positions."""

    seed: int
    prices: dict[str, float]
    assets: tuple[str, ...]
    protocols: tuple[str, ...]
    protocol: IntArray  # per position: index into protocols
    chain_id: IntArray
    close_factor: FloatArray
    accounts: bytes  # 20 bytes per position
    perp_asset: IntArray  # per position: index into assets, -1 for lending
    perp_size: FloatArray
    perp_entry: FloatArray
    perp_margin: FloatArray
    perp_maintenance: FloatArray
    leg_start: IntArray  # per position: first leg row (legs sorted by position)
    leg_asset: IntArray
    leg_amount: FloatArray
    leg_threshold: FloatArray  # nan on debt legs
    leg_bonus: FloatArray
    leg_is_debt: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        """Number of positions."""
        return int(self.protocol.size)

    def snapshots(self) -> Iterator[dict[str, Any]]:
        """Every position as a wire-contract snapshot, in position order."""
        assets, protocols = self.assets, self.protocols
        protocol, chain = self.protocol.tolist(), self.chain_id.tolist()
        closes = self.close_factor.tolist()
        perp = self.perp_asset.tolist()
        size, entry = self.perp_size.tolist(), self.perp_entry.tolist()
        margin, maint = self.perp_margin.tolist(), self.perp_maintenance.tolist()
        starts = [*self.leg_start.tolist(), int(self.leg_asset.size)]
        leg_asset, amount = self.leg_asset.tolist(), self.leg_amount.tolist()
        threshold, bonus = self.leg_threshold.tolist(), self.leg_bonus.tolist()
        is_debt = self.leg_is_debt.tolist()
        for i in range(len(self)):
            account = "0x" + self.accounts[20 * i : 20 * i + 20].hex()
            name = protocols[protocol[i]]
            snap: dict[str, Any] = {
                "position_id": f"{name}:{chain[i]}:{account}",
                "protocol": name,
                "account": account,
                "chain_id": chain[i],
                "version": [BASE_BLOCK, i],
                "timestamp": BASE_TIMESTAMP,
                "closed": False,
            }
            if perp[i] >= 0:
                market = assets[perp[i]]
                snap["position_id"] += f":{market}"
                snap.update(kind="perp", market=market, asset=market, size=size[i],
                            entry_price=entry[i], margin=margin[i],
                            maintenance_margin_ratio=maint[i])
            else:
                legs = range(starts[i], starts[i + 1])
                snap.update(
                    kind="lending",
                    collateral=[{"asset": assets[leg_asset[j]], "amount": amount[j],
                                 "liquidation_threshold": threshold[j],
                                 "liquidation_bonus": bonus[j]}
                                for j in legs if not is_debt[j]],
                    debt=[{"asset": assets[leg_asset[j]], "amount": amount[j]}
                          for j in legs if is_debt[j]],
                    close_factor=closes[i],
                )
            yield snap


@dataclass
class _Legs:
    """Leg rows collected per market group before they are sorted by position."""

    position: list[IntArray]
    asset: list[IntArray]
    amount: list[FloatArray]
    threshold: list[FloatArray]
    bonus: list[FloatArray]
    is_debt: list[npt.NDArray[np.bool_]]

    def add(self, position: IntArray, asset: int, amount: FloatArray, threshold: float,
            bonus: float, is_debt: bool) -> None:
        """Append one leg for each of `position`."""
        self.position.append(position)
        self.asset.append(np.full(position.size, asset, dtype=np.int64))
        self.amount.append(amount)
        self.threshold.append(np.full(position.size, threshold))
        self.bonus.append(np.full(position.size, bonus))
        self.is_debt.append(np.full(position.size, is_debt))


def _lending_group(rng: np.random.Generator, market: LendingMarket, rows: IntArray,
                   size_usd: FloatArray, hf: FloatArray, prices: Mapping[str, float],
                   index: Mapping[str, int], legs: _Legs) -> None:
    """Legs for the positions `rows` of one market: collateral split, debt sized from the HF."""
    n_coll, n_debt = len(market.collateral), len(market.debt)
    coll_w = rng.dirichlet(np.full(n_coll, 2.0), size=rows.size)
    debt_w = rng.dirichlet(np.full(n_debt, 2.0), size=rows.size)
    thresholds = np.array([c.liquidation_threshold for c in market.collateral])
    borrow_power = size_usd[rows] * (coll_w @ thresholds)
    debt_usd = borrow_power / hf[rows]
    for k, leg in enumerate(market.collateral):
        usd = size_usd[rows] * coll_w[:, k]
        legs.add(rows, index[leg.asset], usd / prices[leg.asset], leg.liquidation_threshold,
                 leg.liquidation_bonus, False)
    for k, asset in enumerate(market.debt):
        legs.add(rows, index[asset], debt_usd * debt_w[:, k] / prices[asset], np.nan, 0.0, True)


def generate_market(n: int, seed: int = 0, prices: Mapping[str, float] | None = None) -> Market:
    """Generate `n` positions (1e3..1e6 in practice) deterministically from `seed`."""
    if not MIN_POSITIONS <= n <= MAX_POSITIONS:
        raise ValueError(f"positions must be within {MIN_POSITIONS}..{MAX_POSITIONS}, got {n}")
    px = {**start_prices(), **(prices or {})}
    assets = tuple(sorted(px))
    index = {a: i for i, a in enumerate(assets)}
    protocols = (*(p.name for p in LENDING), PERPS.name)
    rng = np.random.default_rng(seed)
    shares = np.array([p.share for p in LENDING] + [PERPS.share])
    protocol = rng.choice(len(protocols), size=n, p=shares / shares.sum()).astype(np.int64)
    size_usd = np.clip(rng.lognormal(np.log(SIZE_MEDIAN_USD), SIZE_SIGMA, size=n),
                       *SIZE_BOUNDS_USD)
    hf = health_factors(rng, n)
    chain_id = np.array([p.chain_id for p in LENDING] + [PERPS.chain_id])[protocol]
    close_factor = np.array([p.close_factor for p in LENDING] + [1.0])[protocol]
    legs = _Legs([], [], [], [], [], [])
    for code, proto in enumerate(LENDING):
        rows = np.flatnonzero(protocol == code)
        weights = np.array([m.weight for m in proto.markets])
        choice = rng.choice(len(proto.markets), size=rows.size, p=weights / weights.sum())
        for m, market in enumerate(proto.markets):
            _lending_group(rng, market, rows[choice == m], size_usd, hf, px, index, legs)
    perp = _perps(rng, np.flatnonzero(protocol == len(LENDING)), n, size_usd, px, index)
    position = np.concatenate(legs.position)
    order = np.lexsort((np.concatenate(legs.is_debt), position))
    leg_start = np.searchsorted(position[order], np.arange(n)).astype(np.int64)
    return Market(
        seed=seed, prices=px, assets=assets, protocols=protocols, protocol=protocol,
        chain_id=chain_id.astype(np.int64), close_factor=close_factor,
        accounts=rng.bytes(20 * n), **perp, leg_start=leg_start,
        leg_asset=np.concatenate(legs.asset)[order], leg_amount=np.concatenate(legs.amount)[order],
        leg_threshold=np.concatenate(legs.threshold)[order],
        leg_bonus=np.concatenate(legs.bonus)[order],
        leg_is_debt=np.concatenate(legs.is_debt)[order],
    )


def _perps(rng: np.random.Generator, rows: IntArray, n: int, size_usd: FloatArray,
           prices: Mapping[str, float], index: Mapping[str, int]) -> dict[str, Any]:
    """Isolated-margin perp columns: market, side, leverage skewed low, scattered entries."""
    markets = PERPS.markets
    weights = np.array([m.weight for m in markets])
    choice = rng.choice(len(markets), size=rows.size, p=weights / weights.sum())
    spot = np.array([prices[m.asset] for m in markets])[choice]
    max_lev = np.array([m.max_leverage for m in markets])[choice]
    maint = np.array([m.maintenance_margin_ratio for m in markets])[choice]
    side = np.where(rng.random(rows.size) < PERPS.long_share, 1.0, -1.0)
    leverage = 1.0 + (max_lev - 1.0) * rng.beta(1.3, 3.5, size=rows.size)
    entry = spot * np.exp(PERP_ENTRY_SPREAD * rng.standard_normal(rows.size))
    qty = size_usd[rows] / spot
    margin = qty * entry / leverage
    equity = margin + side * qty * (spot - entry)
    underwater = equity < PERP_MIN_HEALTH * maint * qty * spot
    entry = np.where(underwater, spot, entry)
    margin = np.where(underwater, qty * spot / leverage, margin)
    columns: dict[str, Any] = {
        "perp_asset": np.full(n, -1, dtype=np.int64),
        "perp_size": np.zeros(n), "perp_entry": np.zeros(n),
        "perp_margin": np.zeros(n), "perp_maintenance": np.zeros(n),
    }
    columns["perp_asset"][rows] = np.array([index[m.asset] for m in markets])[choice]
    columns["perp_size"][rows] = side * qty
    columns["perp_entry"][rows] = entry
    columns["perp_margin"][rows] = margin
    columns["perp_maintenance"][rows] = maint
    return columns
