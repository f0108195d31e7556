"""CrashLoopBackOff's clock: the delay doubles per restart up to the cap and resets after a quiet spell."""

from __future__ import annotations

import pytest

from kubelite.agent.kubelet.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_doubles_to_the_cap_and_reports_back_off_since_the_finish_time() -> None:
    clock = Clock()
    b = Backoff(base=10, cap=300, clock=clock)
    assert not b.in_backoff_since("k", clock.now)  # the first restart is immediate
    assert [b.next("k") for _ in range(7)] == [10, 20, 40, 80, 160, 300, 300]
    finished = clock.now
    clock.now += 299
    assert b.in_backoff_since("k", finished)
    assert b.remaining("k", finished) == pytest.approx(1)
    clock.now += 2
    assert not b.in_backoff_since("k", finished)


def test_an_entry_idle_for_twice_the_cap_starts_over() -> None:
    clock = Clock()
    b = Backoff(base=10, cap=300, clock=clock)
    b.next("k")
    b.next("k")
    clock.now += 601
    assert b.next("k") == 10


def test_forget_prefix_and_bad_arguments() -> None:
    b = Backoff(base=1, cap=2)
    b.next("uid/a")
    b.next("other/a")
    b.forget_prefix("uid/")
    assert b.get("uid/a") == 0 and b.get("other/a") == 1
    with pytest.raises(ValueError, match="0 < base <= cap"):
        Backoff(base=5, cap=1)
