"""WorkQueue semantics (client-go's workqueue), as scripts of operations on a fake clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pocketkube.client import FakeClock, ShutDown, WorkQueue
from pocketkube.client.ratelimit import (
    BucketRateLimiter,
    ItemExponentialRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)

Op = tuple[Any, ...]


def run_script(queue: WorkQueue[str], clock: FakeClock, script: list[Op]) -> None:
    """``("add", k)``, ``("get", k)`` (expects k), ``("empty",)`` (nothing ready), ``("done", k)``,
    ``("after", k, s)``, ``("limited", k)``, ``("forget", k)``, ``("requeues", k, n)``,
    ``("advance", s)``, ``("len", n)``, ``("waiting", n)``, ``("shutdown",)``, ``("closed",)``."""
    for step, (op, *args) in enumerate(script):
        where = f"step {step}: {op} {args}"
        match op:
            case "add":
                queue.add(args[0])
            case "get":
                assert queue.get_nowait() == args[0], where
            case "empty":
                with pytest.raises(asyncio.QueueEmpty):
                    queue.get_nowait()
            case "done":
                queue.done(args[0])
            case "after":
                queue.add_after(args[0], args[1])
            case "limited":
                queue.add_rate_limited(args[0])
            case "forget":
                queue.forget(args[0])
            case "requeues":
                assert queue.num_requeues(args[0]) == args[1], where
            case "advance":
                clock.advance(args[0])
            case "len":
                assert len(queue) == args[0], where
            case "waiting":
                assert queue.waiting == args[0], where
            case "shutdown":
                queue.shutdown()
            case "closed":
                with pytest.raises(ShutDown):
                    queue.get_nowait()
            case _:
                raise AssertionError(f"unknown op {op}")


SCRIPTS: dict[str, list[Op]] = {
    "fifo": [("add", "a"), ("add", "b"), ("get", "a"), ("get", "b"), ("empty",)],
    "duplicate adds collapse": [("add", "a"), ("add", "a"), ("len", 1), ("get", "a"), ("empty",)],
    "added while processing waits for done": [
        ("add", "a"),
        ("get", "a"),
        ("add", "a"),
        ("len", 0),
        ("empty",),
        ("done", "a"),
        ("len", 1),
        ("get", "a"),
    ],
    "done without a re-add does not requeue": [
        ("add", "a"),
        ("get", "a"),
        ("done", "a"),
        ("empty",),
    ],
    "several adds while processing requeue once": [
        ("add", "a"),
        ("get", "a"),
        ("add", "a"),
        ("add", "a"),
        ("done", "a"),
        ("len", 1),
    ],
    "add_after waits for the clock": [
        ("after", "a", 1.0),
        ("empty",),
        ("waiting", 1),
        ("advance", 0.999),
        ("empty",),
        ("advance", 0.001),
        ("get", "a"),
        ("waiting", 0),
    ],
    "add_after with no delay adds now": [("after", "a", 0), ("get", "a")],
    "the earlier of two delays wins": [
        ("after", "a", 5.0),
        ("after", "a", 1.0),
        ("after", "a", 3.0),
        ("waiting", 1),
        ("advance", 1.0),
        ("get", "a"),
        ("done", "a"),
        ("advance", 10.0),
        ("empty",),
    ],
    "a delayed key already queued collapses": [
        ("add", "a"),
        ("after", "a", 1.0),
        ("advance", 1.0),
        ("len", 1),
        ("get", "a"),
        ("empty",),
    ],
    "shutdown drains, then refuses": [
        ("add", "a"),
        ("after", "b", 1.0),
        ("shutdown",),
        ("add", "c"),
        ("get", "a"),
        ("advance", 2.0),
        ("closed",),
    ],
}


@pytest.mark.parametrize("script", SCRIPTS.values(), ids=SCRIPTS.keys())
def test_workqueue_scripts(script: list[Op]) -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(
        clock=clock, rate_limiter=ItemExponentialRateLimiter(base=0.005, cap=1000.0)
    )
    run_script(queue, clock, script)


def test_rate_limited_requeues_back_off_per_key() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(
        clock=clock, rate_limiter=ItemExponentialRateLimiter(base=0.005, cap=1000.0)
    )
    run_script(
        queue,
        clock,
        [
            ("limited", "a"),  # 5 ms
            ("requeues", "a", 1),
            ("advance", 0.004),
            ("empty",),
            ("advance", 0.001),
            ("get", "a"),
            ("limited", "a"),  # 10 ms, while still processing
            ("done", "a"),
            ("advance", 0.009),
            ("empty",),
            ("advance", 0.001),
            ("get", "a"),
            ("requeues", "a", 2),
            ("forget", "a"),
            ("requeues", "a", 0),
            ("limited", "b"),
            ("advance", 0.005),
            ("get", "b"),
        ],
    )


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.005), (1, 0.01), (2, 0.02), (10, 5.12), (17, 655.36), (18, 1000.0), (500, 1000.0)],
)
def test_item_exponential_delays(failures: int, delay: float) -> None:
    limiter = ItemExponentialRateLimiter(base=0.005, cap=1000.0)
    for _ in range(failures):
        limiter.when("k")
    assert limiter.when("k") == pytest.approx(delay)
    assert limiter.when("other") == pytest.approx(0.005)


def test_bucket_allows_a_burst_then_spaces_requests() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=10.0, burst=3, clock=clock)
    assert [bucket.when(i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.when(3) == pytest.approx(0.1)
    assert bucket.when(4) == pytest.approx(0.2)
    clock.advance(1.0)
    assert bucket.when(5) == 0.0


def test_default_controller_limiter_is_the_larger_of_both() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock=clock)
    assert limiter.when("a") == pytest.approx(0.005)
    assert isinstance(limiter, MaxOfRateLimiter)
    for i in range(200):  # the bucket (burst 100, 10/s) now dominates new keys
        limiter.when(f"k{i}")
    assert limiter.when("fresh") > 1.0
    assert limiter.num_requeues("a") == 1
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


async def test_get_waits_for_an_add() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.add("a")
    assert await asyncio.wait_for(getter, 1) == "a"


async def test_get_wakes_when_a_delayed_key_is_due() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add_after("a", 2.0)
    for _ in range(3):
        await asyncio.sleep(0)
    assert clock.sleepers == 1
    assert not getter.done()
    clock.advance(2.0)
    assert await asyncio.wait_for(getter, 1) == "a"


async def test_shutdown_wakes_waiting_workers() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    queue.shutdown()
    for getter in getters:
        with pytest.raises(ShutDown):
            await asyncio.wait_for(getter, 1)


async def test_a_key_is_never_processed_by_two_workers() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    active: set[str] = set()
    overlaps = 0
    synced: list[str] = []

    async def worker() -> None:
        nonlocal overlaps
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            overlaps += key in active
            active.add(key)
            await asyncio.sleep(0.002)
            synced.append(key)
            active.discard(key)
            queue.done(key)

    async with asyncio.TaskGroup() as group:
        for _ in range(4):
            group.create_task(worker())
        for _ in range(20):
            for key in ("a", "b"):
                queue.add(key)
            await asyncio.sleep(0)  # let workers take keys, so adds land while processing
        queue.shutdown()  # the workers still drain what is queued
    assert overlaps == 0
    assert set(synced) == {"a", "b"}
    assert len(synced) < 40  # adds collapsed
