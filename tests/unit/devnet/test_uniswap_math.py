"""The devnet's shock sale: selling sale_for_move(R, f) into a v2 pool moves its spot by exactly
f, as the project's ConstantProductDepth with the 0.3 % fee prices such a sale."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.devnet.uniswap import FEE, sale_for_move
from monitor.risk import ConstantProductDepth


@pytest.mark.parametrize("factor", [0.97, 0.94, 0.9, 0.5, 1.0])
def test_the_sale_moves_the_spot_by_the_factor(factor: float) -> None:
    reserve = 6_700.0
    sold = sale_for_move(reserve, factor)
    moved = ConstantProductDepth(reserve, FEE).factors(1.0, np.array([sold]), "down")[0]
    assert moved == pytest.approx(factor, rel=1e-12)


def test_a_rise_is_not_a_sale() -> None:
    with pytest.raises(ValueError, match="factor"):
        sale_for_move(100.0, 1.1)
