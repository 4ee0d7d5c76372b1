"""The cascade throttle: at most one run per interval per key, always one after the last change."""

from __future__ import annotations

from monitor.stream.throttle import TrailingThrottle


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_runs_once_per_interval_and_once_after_the_last_change() -> None:
    clock = Clock()
    throttle = TrailingThrottle(1.0, clock)
    throttle.mark("WETH")
    assert throttle.due() == ["WETH"]  # leading edge
    for _ in range(5):
        clock.now += 0.1
        throttle.mark("WETH")
        assert throttle.due() == []
    clock.now += 0.6
    assert throttle.due() == ["WETH"]  # trailing edge after the burst
    clock.now += 5
    assert throttle.due() == []  # nothing changed since


def test_keys_are_throttled_independently_and_forgotten() -> None:
    clock = Clock()
    throttle = TrailingThrottle(1.0, clock)
    throttle.mark("WETH")
    throttle.mark("WBTC")
    assert throttle.due() == ["WBTC", "WETH"]
    throttle.mark("WETH")
    throttle.forget("WETH")
    assert throttle.due() == []
