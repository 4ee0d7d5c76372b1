"""The position rule (a large position near liquidation) observes exactly the large positions
within its band, and decodes only those: small positions near liquidation are filtered out on
the book's arrays, not valued one by one."""

from __future__ import annotations

from monitor.alerting.config import load_alerting
from monitor.risk import CollateralLeg, DebtLeg, LendingPosition, Position, PositionBook
from monitor.stream.alerts.evaluator import Evaluator
from monitor.stream.alerts.measures import PositionRules

PRICES = {"WETH": 3000.0, "USDC": 1.0}
RULE = "position-near-liquidation"  # default: within 2 % of liquidation, at least $10M


def loan(pid: str, weth: float, usdc_debt: float) -> LendingPosition:
    """A WETH-collateral, USDC-debt position (liquidation threshold 0.8)."""
    return LendingPosition(
        position_id=pid, protocol="generic", account=pid, version=(1, 0), timestamp=0.0,
        collateral=(CollateralLeg("WETH", weth, 0.8, 0.05),),
        debt=(DebtLeg("USDC", usdc_debt),))


def test_only_large_positions_near_liquidation_are_decoded_and_observed() -> None:
    cfg = load_alerting(None)
    rule = cfg.rules[RULE]
    near = 1.0 + rule.threshold / 2  # inside the band
    big = loan("big", 10_000.0, 10_000 * 3000 * 0.8 / near)  # $30M collateral
    held: list[Position] = [big, loan("far", 10_000.0, 1_000_000.0)]
    held += [loan(f"small-{i}", 1.0, 3000 * 0.8 / near) for i in range(500)]
    decoded: list[str] = []
    by_id = {p.position_id: p for p in held}

    def find(pid: str) -> Position | None:
        decoded.append(pid)
        return by_id.get(pid)

    evaluator = Evaluator(cfg, lambda *_: None)
    PositionRules(cfg, evaluator, lambda _: 0, find).scan(
        {0: PositionBook.from_positions(held)}, PRICES)
    assert decoded == ["big"]
    assert [evaluator.held[fp].subject for fp in evaluator.held_by(RULE)] == ["big"]


NEAR = 1.0 + load_alerting(None).rules[RULE].threshold / 2  # a health factor inside the band


def large(pid: str, health: float) -> LendingPosition:
    """A $30M-collateral position at this health factor."""
    return loan(pid, 10_000.0, 10_000 * 3000 * 0.8 / health)


class Partitions:
    """Real books (partition: the id's first character) and the table `find` decodes from,
    with the real evaluator and what it proposes."""

    def __init__(self, *positions: Position) -> None:
        cfg = load_alerting(None)
        self.table = {p.position_id: p for p in positions}
        self.books = {0: PositionBook(), 1: PositionBook()}
        for position in positions:
            self.books[self.partition_of(position.position_id)].upsert(position)
        self.proposed: list[tuple[str, str | None]] = []  # (subject, new status or None)
        self.decoded: list[str] = []
        self.evaluator = Evaluator(cfg, lambda _, subject, new, __: self.proposed.append(
            (subject, new.status if new else None)))
        self.rules = PositionRules(cfg, self.evaluator, self.partition_of, self.find)

    @staticmethod
    def partition_of(pid: str) -> int:
        """Position ids start with their partition."""
        return int(pid[0])

    def find(self, pid: str) -> Position | None:
        """The stored snapshot, noting that it was decoded."""
        self.decoded.append(pid)
        return self.table.get(pid)

    def put(self, position: Position) -> None:
        """A new snapshot, in the table and its book."""
        self.table[position.position_id] = position
        self.books[self.partition_of(position.position_id)].upsert(position)

    def close(self, pid: str) -> None:
        """A closed snapshot: gone from the table and its book."""
        del self.table[pid]
        self.books[self.partition_of(pid)].remove(pid)

    def status(self) -> dict[str, str]:
        """Status of each held alert of the rule, by position id."""
        held = self.evaluator.held
        return {held[fp].subject: held[fp].status for fp in self.evaluator.held_by(RULE)}

    def scan(self, changed: dict[int, set[str]] | None = None) -> None:
        """A scan of both partitions (those of `changed` among those ids only)."""
        self.proposed.clear()
        self.decoded.clear()
        self.rules.scan(self.books, PRICES, changed)


async def test_an_id_restricted_scan_fires_for_a_changed_position_near_liquidation() -> None:
    world = Partitions(large("0-a", 2.0), large("0-b", 2.0), large("1-c", 2.0))
    world.scan()
    assert world.status() == {}
    world.put(large("0-a", NEAR))
    world.books[0].upsert(large("0-b", NEAR))  # changed in the book, but not announced
    world.scan({0: {"0-a"}, 1: set()})
    assert world.status() == {"0-a": "firing"}
    assert world.decoded == ["0-a"] and world.proposed == [("0-a", "firing")]


async def test_an_id_restricted_scan_resolves_changed_positions_moved_away_or_closed() -> None:
    world = Partitions(large("0-a", NEAR), large("0-b", NEAR), large("0-c", NEAR))
    world.scan()
    assert world.status() == {"0-a": "firing", "0-b": "firing", "0-c": "firing"}
    world.put(large("0-a", 2.0))  # recovered
    world.close("0-b")
    world.scan({0: {"0-a", "0-b"}})
    assert world.status() == {"0-a": "resolved", "0-b": "resolved", "0-c": "firing"}
    assert sorted(world.proposed) == [("0-a", "resolved"), ("0-b", "resolved")]
    assert world.decoded == []  # neither is near any more: nothing to decode


async def test_an_id_restricted_scan_leaves_the_alerts_of_other_positions_alone() -> None:
    world = Partitions(large("0-a", NEAR), large("0-b", 2.0), large("1-c", NEAR))
    world.scan()
    held = dict(world.evaluator.held)
    world.books[0].remove("0-a")  # unannounced: not among the scanned ids
    world.put(large("0-b", 3.0))
    world.scan({0: {"0-b"}, 1: {"1-x"}})  # 1-x: an id the book never held
    assert world.proposed == [] and world.evaluator.held == held
    assert world.status() == {"0-a": "firing", "1-c": "firing"}


async def test_a_whole_book_scan_still_fires_and_resolves_across_the_partition() -> None:
    world = Partitions(large("0-a", NEAR), large("0-b", 2.0), large("1-c", NEAR))
    world.scan()
    assert world.status() == {"0-a": "firing", "1-c": "firing"}
    world.books[0].upsert(large("0-a", 2.0))
    world.table["0-b"] = large("0-b", NEAR)
    world.books[0].upsert(world.table["0-b"])
    world.books[1].remove("1-c")
    world.scan({1: set()})  # partition 0 whole, partition 1 among no ids
    assert world.status() == {"0-a": "resolved", "0-b": "firing", "1-c": "firing"}
    world.scan()
    assert world.status() == {"0-a": "resolved", "0-b": "firing", "1-c": "resolved"}
    assert world.proposed == [("1-c", "resolved")]
