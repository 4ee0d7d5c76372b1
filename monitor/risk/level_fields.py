"""The fields of a cached liquidation level, as rows of an asset index's values: what the
level kernels write, the index keeps and the cluster tally sums."""

from typing import Final

PRICE, QUANTITY, DEBT_USD, EQUITY_BASE, NET_UNITS = range(5)
FIELDS: Final = 5
