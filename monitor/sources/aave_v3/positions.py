"""Read whole Aave V3 positions at pinned blocks in JSON-RPC batches and build wire snapshots.

Interest accrues every block, so amounts come from the chain (aToken / debt token balanceOf at
the block), never from summing events. Two batched rounds per group of accounts: first the
user configuration bitmaps, eModes and reserve configurations; then only the balances the
bitmaps say exist, plus the eMode categories in use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_abi.abi import decode as abi_decode

from monitor.risk import CollateralLeg, DebtLeg, LendingPosition, to_snapshot
from monitor.risk.aave_v3 import PROTOCOL
from monitor.sources.aave_v3.market import Market, Reserve
from monitor.sources.evm.abi import encode_call, selector, word
from monitor.sources.evm.adapter import Read, WireRecord
from monitor.sources.evm.jsonrpc import Request, RpcError, block_ref, check, eth_call
from monitor.sources.evm.rpc import Rpc

log = logging.getLogger(__name__)

SEL = {name: selector(sig) for name, sig in {
    "configuration": "getConfiguration(address)",
    "user_configuration": "getUserConfiguration(address)",
    "user_emode": "getUserEMode(address)",
    "emode": "getEModeCategoryData(uint8)",
    "balance": "balanceOf(address)",
}.items()}


@dataclass(frozen=True)
class ReserveParams:
    """The parts of a reserve's configuration bitmap that value a position."""

    liquidation_threshold: int  # basis points
    liquidation_bonus: int  # basis points, including 100 % (10500 = 5 %)
    decimals: int
    emode_category: int

    @classmethod
    def from_bitmap(cls, data: int) -> ReserveParams:
        """Unpack ReserveConfigurationMap (bits 16-31 LT, 32-47 bonus, 48-55 decimals,
        168-175 eMode category)."""
        return cls((data >> 16) & 0xFFFF, (data >> 32) & 0xFFFF, (data >> 48) & 0xFF,
                   (data >> 168) & 0xFF)


def position_id(chain_id: int, account: str) -> str:
    """On-chain position id per the wire contract."""
    return f"{PROTOCOL}:{chain_id}:{account.lower()}"


def build_snapshot(chain_id: int, read: Read, legs: Iterable[tuple[Reserve, ReserveParams,
                   bool, int, int]], user_emode: int, emodes: dict[int, tuple[int, int]]
                   ) -> WireRecord:
    """The wire snapshot from per-reserve facts: (reserve, params, collateral enabled,
    aToken balance, total debt). Effective LT and bonus apply the user's eMode category.

    It carries no close_factor: Aave's depends on the health factor at liquidation time, so
    the worker applies the one configured for the protocol."""
    collateral: list[CollateralLeg] = []
    debt: list[DebtLeg] = []
    for reserve, params, enabled, supplied, owed in legs:
        lt, bonus = params.liquidation_threshold, params.liquidation_bonus
        if user_emode and params.emode_category == user_emode and user_emode in emodes:
            lt, bonus = emodes[user_emode]
        unit = 10 ** params.decimals
        if enabled and supplied > 0:
            collateral.append(CollateralLeg(
                reserve.symbol, supplied / unit, lt / 1e4, max(bonus - 10_000, 0) / 1e4,
                amount_raw=supplied, decimals=params.decimals))
        if owed > 0:
            debt.append(DebtLeg(reserve.symbol, owed / unit, amount_raw=owed,
                                decimals=params.decimals))
    account = read.key.lower()
    snapshot = to_snapshot(LendingPosition(
        position_id(chain_id, account), PROTOCOL, account, tuple(collateral), tuple(debt),
        version=read.version, timestamp=read.timestamp, closed=not collateral and not debt,
        chain_id=chain_id))
    del snapshot["close_factor"]
    return snapshot


async def read_positions(rpc: Rpc, market: Market, chain_id: int,
                         requests: Sequence[Read]) -> list[WireRecord]:
    """Snapshots of every requested account, each read at its own pinned block."""
    reserves = market.by_id()
    blocks = sorted({(r.block, r.block_hash) for r in requests})
    first: list[Request] = []
    for _, h in blocks:
        first.extend(eth_call(market.pool, encode_call(SEL["configuration"], res.asset),
                              block_ref(h)) for res in reserves)
    for req in requests:
        ref = block_ref(req.block_hash)
        first.append(eth_call(market.pool, encode_call(SEL["user_configuration"], req.key),
                              ref))
        first.append(eth_call(market.pool, encode_call(SEL["user_emode"], req.key), ref))
    answers = [check(a) for a in await rpc.batch(first)]
    n_cfg = len(blocks) * len(reserves)
    params: dict[str, list[ReserveParams]] = {
        h: [ReserveParams.from_bitmap(word(answers[i * len(reserves) + j], 0))
            for j in range(len(reserves))] for i, (_, h) in enumerate(blocks)}
    users = [(word(answers[n_cfg + 2 * k], 0), word(answers[n_cfg + 2 * k + 1], 0))
             for k in range(len(requests))]

    second: list[Request] = []
    plan: list[list[tuple[int, bool, bool, int]]] = []  # (reserve idx, coll, debt, first answer)
    emode_keys = sorted({(req.block_hash, em) for req, (_, em) in zip(requests, users,
                                                                          strict=True) if em})
    for req, (bitmap, _) in zip(requests, users, strict=True):
        ref = block_ref(req.block_hash)
        legs: list[tuple[int, bool, bool, int]] = []
        for j, res in enumerate(reserves):
            borrowing = bool((bitmap >> (2 * res.id)) & 1)
            enabled = bool((bitmap >> (2 * res.id + 1)) & 1)
            if not borrowing and not enabled:
                continue
            legs.append((j, enabled, borrowing, len(second)))
            if enabled:
                second.append(eth_call(res.a_token, encode_call(SEL["balance"], req.key), ref))
            if borrowing:
                second.append(eth_call(res.variable_debt,
                                       encode_call(SEL["balance"], req.key), ref))
                second.append(eth_call(res.stable_debt,
                                       encode_call(SEL["balance"], req.key), ref))
        plan.append(legs)
    n_bal = len(second)
    second.extend(eth_call(market.pool, encode_call(SEL["emode"], em), block_ref(h))
                  for h, em in emode_keys)
    results = await rpc.batch(second)
    emode_at: dict[str, dict[int, tuple[int, int]]] = {}
    for (h, em), res_ in zip(emode_keys, results[n_bal:], strict=True):
        if isinstance(res_, RpcError):
            log.warning("eMode category %d unreadable at %s: %s", em, h, res_)
            continue
        ltv_lt_bonus = abi_decode(["(uint16,uint16,uint16,address,string)"],
                                  bytes.fromhex(res_[2:]))[0]
        emode_at.setdefault(h, {})[em] = (int(ltv_lt_bonus[1]), int(ltv_lt_bonus[2]))

    snapshots = []
    for req, (_, em), legs in zip(requests, users, plan, strict=True):
        facts = []
        for j, enabled, borrowing, at in legs:
            supplied = word(check(results[at]), 0) if enabled else 0
            k = at + enabled
            owed = word(check(results[k]), 0) + word(check(results[k + 1]), 0) \
                if borrowing else 0
            facts.append((reserves[j], params[req.block_hash][j], enabled, supplied, owed))
        snapshots.append(build_snapshot(chain_id, req, facts, em,
                                        emode_at.get(req.block_hash, {})))
    return snapshots
