"""What each rule kind measures, taken from the stream's state the moment it changes: asset
rules from a cascade projection or a price move (on the worker that owns the asset), position
rules from a coalesced pass over the owned books: the whole book after a price move of an asset
it holds or a rebalance, only the positions that changed after new snapshots."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from monitor.alerting.config import AlertingConfig, RuleConfig
from monitor.alerting.state import Observation
from monitor.risk import (
    LEVEL_SIDE,
    ClusterMap,
    MissingPrice,
    Position,
    PositionBook,
    liquidatable_within,
    position_values,
)
from monitor.risk.sides import CascadeSide
from monitor.stream.alerts.evaluator import Evaluator
from monitor.stream.alerts.wakeups import Wakeups
from monitor.wire import PriceUpdate

FloatArray = npt.NDArray[np.float64]
ASSET_KINDS: Final = ("cascade_proximity", "liquidatable_value", "liquidatable_growth",
                      "oracle_stale", "oracle_jump", "bad_debt")
GROWTH_FLOOR_USD: Final = 1.0  # growth is measured from min_usd at least, and from $1
VALUE_SLACK: Final = 1e-6  # relative: how far an exact valuation may round above the generic sum


class AssetRules:
    """Asset-level rules of the assets this worker owns."""

    def __init__(self, cfg: AlertingConfig, evaluator: Evaluator, owns: Callable[[str], bool],
                 prices: Mapping[str, PriceUpdate],
                 merged: Callable[[str], ClusterMap | None]) -> None:
        self.evaluator, self.owns, self.prices, self.merged = evaluator, owns, prices, merged
        self.rules = {kind: [r for r in cfg.rules.values() if r.kind == kind]
                      for kind in ASSET_KINDS}
        self.triggers: dict[str, dict[str, Any]] = {}  # asset -> latest projection
        self.previous: dict[str, float] = {}  # asset -> the price before the latest
        self.history: dict[tuple[str, str, str], deque[tuple[float, float]]] = {}
        self.growth: dict[tuple[str, str, str, str], float] = {}  # (asset, side, move, window)
        self.stale = Wakeups(self._stale_due)

    def price_moved(self, update: PriceUpdate) -> None:
        """A price moved: jump, staleness, and proximity against the latest trigger."""
        asset, before = update.asset, self.previous.get(update.asset)
        self.previous[asset] = update.price
        if not self.owns(asset):
            return
        for rule in self._for("oracle_jump", asset):
            if before:
                move = abs(update.price / before - 1.0)
                self._observe(rule, asset, {"asset": asset}, move,
                              f"{asset} moved {move:.2%} in one oracle update "
                              f"({before:.6g} -> {update.price:.6g})")
        self._staleness(asset)
        self._proximity(asset)

    def projected(self, projection: Mapping[str, Any]) -> None:
        """A new projection of an owned asset: every projection-based rule."""
        asset = str(projection["asset"])
        if not self.owns(asset):
            return
        self.triggers[asset] = dict(projection)
        self._proximity(asset)
        for rule in self._for("bad_debt", asset):
            for side in rule.sides:
                found = projection[side]
                debt = found.get("bad_debt_usd")
                self._observe(rule, asset, {"asset": asset, "side": side}, debt,
                              f"{asset}: ${debt or 0:,.0f} of bad debt projected at the {side} "
                              f"cascade trigger {found.get('trigger_price') or 0:.6g}")
        merged, price = self.merged(asset), self.prices.get(asset)
        if merged is not None and price is not None:
            self._liquidatable(asset, merged, price.price)

    def reassigned(self) -> None:
        """After a rebalance: forget the assets moved away, look at every owned one again."""
        self.stale.clear()
        for asset in list(self.triggers):
            if not self.owns(asset):
                del self.triggers[asset]
        self.growth = {key: g for key, g in self.growth.items() if self.owns(key[0])}
        for asset in sorted(self.prices):
            if self.owns(asset):
                self._staleness(asset)
                self._proximity(asset)

    def _for(self, kind: str, asset: str) -> Iterator[RuleConfig]:
        """The rules of `kind` that watch `asset`."""
        return (rule for rule in self.rules[kind] if rule.watches(asset))

    def _observe(self, rule: RuleConfig, asset: str, labels: dict[str, str],
                 value: float | None, summary: str) -> None:
        """Hand one measure to the evaluator."""
        self.evaluator.observe(Observation(rule, asset, labels, value, summary))

    def _proximity(self, asset: str) -> None:
        """Distance from the latest price to each side's significant trigger."""
        projection, update = self.triggers.get(asset), self.prices.get(asset)
        if projection is None or update is None:
            return
        price = update.price
        for rule in self._for("cascade_proximity", asset):
            for side in rule.sides:
                found = projection[side]
                trigger = found.get("trigger_price")
                distance = None if trigger is None else max(
                    (price - trigger) / price if side == "down" else (trigger - price) / price,
                    0.0)
                summary = (f"{asset}: no significant {side} cascade trigger" if trigger is None
                           else f"{asset} at {price:.6g} is {distance:.2%} from its {side} "
                                f"cascade trigger at {trigger:.6g} (amplification "
                                f"{found['amplification']:.1f}x, induced move "
                                f"{found['induced_move']:.1%}, ${found['liquidated_usd']:,.0f} "
                                f"liquidated)")
                self._observe(rule, asset, {"asset": asset, "side": side}, distance, summary)

    def _staleness(self, asset: str) -> None:
        """Age of the asset's last update in heartbeats, and the wake-up when it goes stale."""
        update = self.prices[asset]
        for rule in self._for("oracle_stale", asset):
            heartbeat = rule.heartbeat_of(asset)
            age = max(time.time() - update.timestamp, 0.0)
            self._observe(rule, asset, {"asset": asset}, age / heartbeat,
                          f"no {asset} price update for {age:,.0f} s (feed heartbeat "
                          f"{heartbeat:,.0f} s)")
            deadline = update.timestamp + rule.threshold * heartbeat
            if deadline > time.time():  # already stale: the next update wakes it, not a timer
                self.stale.at(f"{rule.name}\n{asset}", deadline)

    def _stale_due(self, key: str) -> None:
        """A heartbeat deadline passed without an update."""
        asset = key.split("\n", 1)[1]
        if asset in self.prices and self.owns(asset):
            self._staleness(asset)

    def _liquidatable(self, asset: str, merged: ClusterMap, price: float) -> None:
        """Value liquidated by each rule's move, and its growth within the rule's window (from
        the window's lowest value, or from min_usd when that is higher)."""
        now = time.time()
        for kind in ("liquidatable_value", "liquidatable_growth"):
            for rule in self._for(kind, asset):
                for side in rule.sides:
                    level_side = LEVEL_SIDE[cast(CascadeSide, side)]
                    usd = liquidatable_within(merged, price, rule.move, level_side)
                    labels = {"asset": asset, "side": level_side, "move": f"{rule.move:g}"}
                    if kind == "liquidatable_value":
                        self._observe(rule, asset, labels, usd,
                                      f"${usd:,.0f} of {asset} {level_side}s liquidate within "
                                      f"a {rule.move:.0%} move")
                        continue
                    lowest = self._lowest(rule, asset, side, now, usd)
                    growth = usd / max(lowest, rule.min_usd, GROWTH_FLOOR_USD) - 1.0
                    self.growth[(asset, level_side, labels["move"], f"{rule.window:g}")] = growth
                    self._observe(rule, asset, labels, growth,
                                  f"{asset} {level_side}s liquidating within a "
                                  f"{rule.move:.0%} move reached ${usd:,.0f}, {growth:.0%} above "
                                  f"their low of the last {rule.window:,.0f} s (counted from "
                                  f"${rule.min_usd:,.0f} at least)")

    def _lowest(self, rule: RuleConfig, asset: str, side: str, now: float,
                usd: float) -> float:
        """The lowest value within the rule's window (the window kept in memory)."""
        samples = self.history.setdefault((rule.name, asset, side), deque())
        samples.append((now, usd))
        while samples and samples[0][0] < now - rule.window:
            samples.popleft()
        return min(v for _, v in samples)


class PositionRules:
    """Single-position rules over the books of the partitions this worker owns."""

    def __init__(self, cfg: AlertingConfig, evaluator: Evaluator,
                 partition_of: Callable[[str], int],
                 find: Callable[[str], Position | None]) -> None:
        self.evaluator, self.partition_of, self.find = evaluator, partition_of, find
        self.rules = [r for r in cfg.rules.values() if r.kind == "position_near_liquidation"]

    def scan(self, books: Mapping[int, PositionBook], prices: Mapping[str, float],
             changed: Mapping[int, set[str]] | None = None) -> None:
        """Observe every large position near liquidation in these partitions' books (in a
        partition of `changed`, only among those ids: no other position or price moved since
        its last scan); alerts of scanned positions no longer near (or gone) resolve."""
        changed = changed or {}
        whole = {p for p in books if p not in changed}
        for rule in self.rules:
            seen: set[str] = set()
            for partition, book in books.items():
                ids = changed.get(partition)
                seen |= self._near(rule, book, prices) if ids is None else \
                    self._near_among(rule, book, ids, prices)
            held = self.evaluator.held
            scanned = [fp for fp in self.evaluator.held_by(rule.name)
                       if self.partition_of(held[fp].subject) in whole] if whole else []
            scanned += [fp for partition, ids in changed.items() if partition in books
                        for pid in ids for fp in self.evaluator.held_about(pid)
                        if held[fp].rule == rule.name]
            for fp in scanned:
                record = held[fp]
                if fp not in seen and record.status != "resolved":
                    self.evaluator.vanish(fp, f"{record.subject}: no longer within "
                                              f"{rule.threshold:g} of liquidation (recovered, "
                                              f"liquidated or closed)")

    def _near(self, rule: RuleConfig, book: PositionBook, prices: Mapping[str, float]
              ) -> set[str]:
        """Observe the positions of one book within the rule's band; their fingerprints."""
        if not len(book):
            return set()
        return self._observe_near(rule, book.ids(), book.health_factors(prices),
                                  book.collateral_values(prices), prices)

    def _near_among(self, rule: RuleConfig, book: PositionBook, ids: set[str],
                    prices: Mapping[str, float]) -> set[str]:
        """Observe the held positions among `ids` within the rule's band, at the cost of those
        rows only; their fingerprints."""
        held = [pid for pid in ids if pid in book]  # closed ones are gone from the book
        if not held:
            return set()
        hf, collateral = book.rows_health(book.rows_of(held), prices)
        return self._observe_near(rule, held, hf, collateral, prices)

    def _observe_near(self, rule: RuleConfig, ids: Sequence[str] | npt.NDArray[np.object_],
                      hf: FloatArray, collateral: FloatArray,
                      prices: Mapping[str, float]) -> set[str]:
        """Observe the rows (ids, health factors, collateral USD) within the rule's band;
        their fingerprints."""
        seen: set[str] = set()
        # only positions this large are decoded and valued one by one (the slack keeps those
        # whose exact valuation rounds a little above the generic sum)
        large = collateral >= rule.min_usd * (1.0 - VALUE_SLACK)
        with np.errstate(invalid="ignore"):
            near = np.flatnonzero((hf - 1.0 <= rule.threshold * (1.0 + rule.margin)) & large)
        for i in near.tolist():
            position = self.find(str(ids[i]))  # decoded from the table: the book has arrays
            if position is None:
                continue
            try:
                collateral_usd, debt_usd = position_values(position, prices)
            except MissingPrice:
                continue
            if collateral_usd < rule.min_usd:
                continue
            distance = float(hf[i]) - 1.0
            seen.add(self.evaluator.observe(Observation(
                rule, position.position_id,
                {"position_id": position.position_id, "protocol": position.protocol},
                distance, f"{position.position_id}: health factor {hf[i]:.4f} with "
                          f"${collateral_usd:,.0f} collateral against ${debt_usd:,.0f} debt")))
        return seen
