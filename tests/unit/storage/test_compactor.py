"""The background compactor: which revision it picks, and that it survives a failing backend."""

from __future__ import annotations

import asyncio

import pytest

from pocketkube.storage.compactor import Compactor
from pocketkube.storage.errors import Unavailable
from pocketkube.storage.memory import MemoryBackend


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def write(backend: MemoryBackend, count: int) -> None:
    for _ in range(count):
        kv, _ = await backend.get("/k/a")
        if kv is None:
            await backend.create("/k/a", b"0")
        else:
            await backend.update("/k/a", b"x", expected_revision=kv.mod_revision)


@pytest.mark.parametrize(
    ("steps", "window_seconds", "window_revisions", "expected"),
    [
        # (seconds to advance, writes before the tick) per tick; the compacted revision after.
        pytest.param([(0, 10)], 300, 10_000, [None], id="nothing-old-enough"),
        pytest.param([(0, 10), (300, 5)], 300, 10_000, [None, 10], id="time-window"),
        pytest.param([(0, 10), (299, 5)], 300, 10_000, [None, None], id="not-yet"),
        pytest.param([(0, 50)], 300, 20, [30], id="revision-window"),
        pytest.param([(0, 10), (300, 100)], 300, 20, [None, 90], id="newer-of-both"),
        pytest.param(
            [(0, 10), (100, 10), (100, 10), (100, 10), (100, 10)],
            300,
            10_000,
            [None, None, None, 10, 20],
            id="sliding",
        ),
        pytest.param([(0, 10), (300, 0), (300, 0)], 300, 10_000, [None, 10, None], id="idle"),
    ],
)
async def test_compacts_to_the_newer_of_the_windows(
    steps: list[tuple[float, int]],
    window_seconds: float,
    window_revisions: int,
    expected: list[int | None],
) -> None:
    backend = MemoryBackend()
    clock = FakeClock()
    compactor = Compactor(
        backend=backend,
        window_seconds=window_seconds,
        window_revisions=window_revisions,
        clock=clock,
    )
    got = []
    for advance, writes in steps:
        clock.now += advance
        await write(backend, writes)
        got.append(await compactor.compact_once())
    assert got == expected
    compacted = [r for r in got if r is not None]
    assert await backend.compacted_revision() == (compacted[-1] if compacted else 0)


async def test_samples_stay_bounded() -> None:
    backend = MemoryBackend()
    clock = FakeClock()
    compactor = Compactor(backend=backend, window_seconds=300, clock=clock)
    for _ in range(1000):
        clock.now += 60
        await write(backend, 1)
        await compactor.compact_once()
    assert len(compactor._samples) <= 7  # one older than the window, five or six inside it


class FlakyBackend(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 2
        self.attempts = 0

    async def compact(self, revision: int) -> None:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise Unavailable("database is locked")
        await super().compact(revision)


async def test_run_survives_backend_errors() -> None:
    backend = FlakyBackend()
    await write(backend, 30)
    compactor = Compactor(backend=backend, window_revisions=10, interval=0.01)
    task = asyncio.create_task(compactor.run())
    try:
        await asyncio.sleep(0.2)  # about 20 ticks
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert backend.attempts == 3
    assert await backend.compacted_revision() == 20
