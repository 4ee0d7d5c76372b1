"""Price paths (historical crashes and a random walk) that move a whole correlated market."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from monitor.scenario.assets import DRIVER, spec_for

FloatArray = npt.NDArray[np.float64]

# ETH/USD on 2020-03-12 (UTC): open 194.74, low 111.21 late in the day, close 112.35.
# Keypoints are (fraction of the day, price / open); the legs follow the day's two sell-offs.
CRASH_2020_03_12: Final = (
    (0.0, 1.0),
    (0.10, 0.970),
    (0.38, 0.850),
    (0.58, 0.830),
    (0.70, 0.680),
    (0.85, 0.660),
    (0.96, 111.21 / 194.74),
    (1.0, 112.35 / 194.74),
)
# ETH/USD on 2021-05-19 (UTC), approximate: open ~3380, low ~1900 early afternoon,
# rebound, close ~2440 (the day Aave, Compound and Maker liquidated ~$377M).
CRASH_2021_05_19: Final = (
    (0.0, 1.0),
    (0.30, 0.930),
    (0.50, 0.820),
    (0.55, 1900.0 / 3380.0),
    (0.62, 0.720),
    (0.75, 0.800),
    (1.0, 2440.0 / 3380.0),
)
CRASH_NOISE: Final = 0.01  # ETH log-price noise over the day, pinned to the keypoints
RANDOM_WALK_STEP_VOL: Final = 0.008  # ETH log-return per step (~4 %/day in hourly steps)
RANDOM_WALK_STEPS_PER_DAY: Final = 24.0


def _keypoint_path(
    keypoints: tuple[tuple[float, float], ...], steps: int, rng: np.random.Generator
) -> FloatArray:
    """Interpolate keypoints log-linearly and add noise that vanishes at every keypoint."""
    times = np.linspace(0.0, 1.0, steps)
    key_t = np.array([t for t, _ in keypoints])
    key_log = np.log(np.array([r for _, r in keypoints]))
    base = np.interp(times, key_t, key_log)
    walk = np.concatenate([[0.0], np.cumsum(rng.standard_normal(steps - 1))]) / np.sqrt(steps - 1)
    key_idx = np.round(key_t * (steps - 1)).astype(np.int64)
    bridge = walk - np.interp(np.arange(steps), key_idx, walk[key_idx])
    low = float(np.exp(key_log.min()))
    ratio: FloatArray = np.maximum(np.exp(base + CRASH_NOISE * bridge), low)
    ratio[key_idx[int(np.argmin(key_log))]] = low
    ratio[0] = 1.0
    return ratio


def _crash_2020(steps: int, rng: np.random.Generator) -> FloatArray:
    """ETH's 2020-03-12 ("Black Thursday") day as a ratio to its open."""
    return _keypoint_path(CRASH_2020_03_12, steps, rng)


def _crash_2021(steps: int, rng: np.random.Generator) -> FloatArray:
    """ETH's 2021-05-19 day as a ratio to its open."""
    return _keypoint_path(CRASH_2021_05_19, steps, rng)


def _random_walk(steps: int, rng: np.random.Generator) -> FloatArray:
    """A driftless geometric random walk of ETH as a ratio to its start."""
    returns = RANDOM_WALK_STEP_VOL * rng.standard_normal(steps - 1)
    walk: FloatArray = np.exp(np.concatenate([[0.0], np.cumsum(returns)]))
    return walk


@dataclass(frozen=True, slots=True)
class PathShape:
    """How a named path moves ETH, and how many days it spans (None: one hour per step)."""

    driver: Callable[[int, np.random.Generator], FloatArray]
    days: float | None


PATHS: Final[Mapping[str, PathShape]] = {
    "crash-2020-03-12": PathShape(_crash_2020, 1.0),
    "crash-2021-05-19": PathShape(_crash_2021, 1.0),
    "random-walk": PathShape(_random_walk, None),
}


def price_path(
    name: str, start: Mapping[str, float], steps: int, seed: int = 0
) -> list[dict[str, float]]:
    """`steps` price maps, the first equal to `start`, every asset following ETH by its beta."""
    if name not in PATHS:
        raise ValueError(f"unknown price path {name!r}; known: {', '.join(sorted(PATHS))}")
    if steps < 2:
        raise ValueError(f"a price path needs at least 2 steps, got {steps}")
    bad = [asset for asset, price in start.items() if not (price > 0.0 and np.isfinite(price))]
    if bad:
        raise ValueError(f"start prices must be positive and finite: {', '.join(bad)}")
    shape = PATHS[name]
    rng = np.random.default_rng(seed)
    driver = shape.driver(steps, rng)
    days = shape.days if shape.days is not None else (steps - 1) / RANDOM_WALK_STEPS_PER_DAY
    step_scale = float(np.sqrt(days / (steps - 1)))
    ratios: dict[str, FloatArray] = {DRIVER: driver}

    def ratio(symbol: str) -> FloatArray:
        """The asset's price as a ratio to its start, drawn once per symbol in sorted order."""
        spec = spec_for(symbol)
        key = spec.same_as or symbol
        if key not in ratios:
            if spec.stable:
                ratios[key] = np.ones(steps)
            else:
                idio = spec.idiosyncratic_vol * step_scale * rng.standard_normal(steps - 1)
                noise = np.concatenate([[0.0], np.cumsum(idio)])
                ratios[key] = driver**spec.beta * np.exp(noise)
        return ratios[key]

    names = sorted(start)
    rows = np.column_stack([start[a] * ratio(a) for a in names]) if names else np.empty((steps, 0))
    return [dict(zip(names, map(float, row), strict=True)) for row in rows]
