"""Crash-loop back-off: 10 s doubling to the cap, forgotten after twice the cap."""

from pocketkube.kubelet.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_to_the_cap_and_reset_after_twice_the_cap() -> None:
    clock = Clock()
    backoff = Backoff(base=10, cap=40, clock=clock)
    assert not backoff.in_backoff_since("p/c", clock.now)  # the first exit restarts at once
    backoff.next("p/c", clock.now)
    delays = []
    for _ in range(5):
        exited = clock.now
        assert backoff.in_backoff_since("p/c", exited)
        delays.append(backoff.remaining("p/c", exited))
        clock.now += backoff.remaining("p/c", exited)
        assert not backoff.in_backoff_since("p/c", exited)
        backoff.next("p/c", exited)
    assert delays == [10, 20, 40, 40, 40]
    clock.now += 81  # clean running for more than twice the cap
    assert not backoff.in_backoff_since("p/c", clock.now)
    backoff.next("p/c", clock.now)
    assert backoff.delay("p/c") == 10


def test_forget_drops_a_pods_keys() -> None:
    backoff = Backoff()
    backoff.next("uid1/a", 0)
    backoff.next("uid2/a", 0)
    backoff.forget("uid1/")
    assert backoff.delay("uid1/a") == 0
    assert backoff.delay("uid2/a") == 10
