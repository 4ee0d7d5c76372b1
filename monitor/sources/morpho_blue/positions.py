"""Read Morpho Blue positions at pinned blocks in JSON-RPC batches and build wire snapshots.

A position is (supply shares, borrow shares, collateral) in one market; its debt is its borrow
shares in assets, rounded up, with the market's interest accrued to the block as _accrueInterest
would accrue it (the IRM's borrowRateView at that block, for the seconds since lastUpdate). Two
batched rounds per group: positions and market states, then the rates of the markets that accrue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from monitor.risk import CollateralLeg, DebtLeg, LendingPosition, to_snapshot
from monitor.risk.morpho_blue import (
    PROTOCOL,
    WAD,
    accrued_interest,
    liquidation_incentive_factor,
    to_assets_up,
)
from monitor.sources.evm.abi import encode_call, selector, word
from monitor.sources.evm.adapter import Read, WireRecord
from monitor.sources.evm.jsonrpc import Request, block_ref, check, eth_call
from monitor.sources.evm.rpc import Rpc
from monitor.sources.morpho_blue.markets import ZERO, Market
from monitor.wire import market_price_key

SEL = {name: selector(sig) for name, sig in {
    "position": "position(bytes32,address)",
    "market": "market(bytes32)",
    "rate": "borrowRateView((address,address,address,address,uint256),"
            "(uint128,uint128,uint128,uint128,uint128,uint128))",
}.items()}


@dataclass(frozen=True)
class MarketState:
    """market(id): supply and borrow totals (assets, shares), lastUpdate and fee."""

    total_supply_assets: int
    total_supply_shares: int
    total_borrow_assets: int
    total_borrow_shares: int
    last_update: int
    fee: int

    @classmethod
    def from_answer(cls, data: str) -> MarketState:
        """Decode market(id)'s six words."""
        return cls(*(word(data, i) for i in range(6)))

    def words(self) -> tuple[int, int, int, int, int, int]:
        """The struct as ABI words (for the IRM's borrowRateView)."""
        return (self.total_supply_assets, self.total_supply_shares, self.total_borrow_assets,
                self.total_borrow_shares, self.last_update, self.fee)

    def accrues(self, irm: str, timestamp: int) -> bool:
        """Whether _accrueInterest would ask the market's IRM for a rate at `timestamp`."""
        return irm != ZERO and timestamp > self.last_update

    def accrued(self, rate: int, timestamp: int) -> MarketState:
        """The totals once interest at the IRM's `rate` is accrued to `timestamp` (rate 0:
        nothing accrues; fee shares, supply-side only, are left out)."""
        if timestamp <= self.last_update:
            return self
        interest = accrued_interest(self.total_borrow_assets, rate, timestamp - self.last_update)
        return replace(self, total_supply_assets=self.total_supply_assets + interest,
                       total_borrow_assets=self.total_borrow_assets + interest,
                       last_update=timestamp)

    def borrowed(self, shares: int) -> int:
        """Borrow `shares` in assets, rounded up (what _isHealthy compares)."""
        return to_assets_up(shares, self.total_borrow_assets, self.total_borrow_shares)


def position_key(market: str, account: str) -> str:
    """What the follower tracks for a position: 'market:account'."""
    return f"{market}:{account.lower()}"


def position_id(chain_id: int, market: str, account: str) -> str:
    """On-chain position id per the wire contract: one position per market and account."""
    return f"{PROTOCOL}:{chain_id}:{market}:{account.lower()}"


def build_snapshot(chain_id: int, read: Read, market: Market, collateral: int,
                   borrow_shares: int, borrowed: int) -> WireRecord:
    """The wire snapshot of one position: its collateral at the market's LLTV and LIF, its
    borrowed assets, valued at the market's own price; closed once it holds neither.

    close_factor stays 1.0: Morpho has none, a liquidator may repay every share."""
    market_id, account = read.key.split(":")
    params = market.params
    legs = []
    if collateral > 0:
        token = market.collateral
        legs.append(CollateralLeg(
            token.name, collateral / 10**token.decimals, params.lltv / WAD,
            liquidation_incentive_factor(params.lltv) / WAD - 1, amount_raw=collateral,
            decimals=token.decimals))
    debt = [] if borrowed == 0 else [DebtLeg(market.loan.name, borrowed / 10**market.loan.decimals,
                                             amount_raw=borrowed,
                                             decimals=market.loan.decimals)]
    return to_snapshot(LendingPosition(
        position_id(chain_id, market_id, account), PROTOCOL, account, tuple(legs), tuple(debt),
        close_factor=1.0, version=read.version, timestamp=read.timestamp,
        closed=collateral == 0 and borrow_shares == 0, chain_id=chain_id,
        market_price=market_price_key(PROTOCOL, chain_id, market_id)))


async def read_positions(rpc: Rpc, morpho: str, markets: Mapping[str, Market], chain_id: int,
                         reads: Sequence[Read]) -> list[WireRecord]:
    """Snapshots of every requested position, each read at its own pinned block."""
    where = sorted({(r.key.split(":")[0], r.block_hash, int(r.timestamp)) for r in reads})
    first: list[Request] = [eth_call(morpho, encode_call(SEL["market"], m), block_ref(h))
                            for m, h, _ in where]
    first += [eth_call(morpho, encode_call(SEL["position"], *r.key.split(":")),
                       block_ref(r.block_hash)) for r in reads]
    answers = [check(a) for a in await rpc.batch(first)]
    states = {(m, h): MarketState.from_answer(answers[i]) for i, (m, h, _) in enumerate(where)}
    accruing = [(m, h, ts) for m, h, ts in where
                if states[(m, h)].accrues(markets[m].params.irm, ts)]
    rates = await rpc.batch([eth_call(markets[m].params.irm, encode_call(
        SEL["rate"], *markets[m].params.words(), *states[(m, h)].words()), block_ref(h))
        for m, h, _ in accruing])
    rate = {(m, h): word(check(a), 0) for (m, h, _), a in zip(accruing, rates, strict=True)}
    snapshots = []
    for r, answer in zip(reads, answers[len(where):], strict=True):
        market_id = r.key.split(":")[0]
        state = states[(market_id, r.block_hash)]
        shares, collateral = word(answer, 1), word(answer, 2)
        borrowed = state.accrued(rate.get((market_id, r.block_hash), 0),
                                 int(r.timestamp)).borrowed(shares)
        snapshots.append(build_snapshot(chain_id, r, markets[market_id], collateral, shares,
                                        borrowed))
    return snapshots
