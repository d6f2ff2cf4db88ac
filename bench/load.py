"""Closed-loop load: N concurrent writers, each issuing its next write when the last returns."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# A writer's next write: (writer number, its sequence number) -> awaitable.
WriteFn = Callable[[int, int], Awaitable[object]]


async def run_writers(writers: int, seconds: float, write: WriteFn) -> tuple[list[float], float]:
    """``writers`` tasks calling ``write`` back to back for ``seconds``: latencies and duration."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def writer(number: int) -> None:
        sequence = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await write(number, sequence)
            latencies.append(time.perf_counter() - started)
            sequence += 1

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for number in range(writers):
            group.create_task(writer(number))
    return latencies, time.perf_counter() - started
