"""Controllers against the real API server (the ``apiserver`` and ``client`` fixtures of
tests/integration/conftest.py): ``run_controllers`` builds the named controllers as the manager
would and runs them (informers and event recorders included) for the block's duration;
``eventually`` polls a check until it is truthy."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pocketkube.client import Client
from pocketkube.controllers import manager
from pocketkube.controllers.context import Context, Options
from pocketkube.controllers.informers import SharedInformers


@contextlib.asynccontextmanager
async def run_controllers(client: Client, *names: str, **options: Any) -> AsyncIterator[list[Any]]:
    """Run exactly the controllers ``names`` (``Options`` fields may be overridden) until the
    block ends; yields the built controllers."""
    opts = dataclasses.replace(Options(leader_elect=False), controllers=names, **options)
    ctx = Context(client=client, informers=SharedInformers(client=client), options=opts)
    built = manager.build(ctx)
    assert sorted(c.name for c in built) == sorted(names), "a controller declined to run"
    task = asyncio.create_task(manager.run(ctx, built))
    try:
        yield built
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(
    check: Callable[[], Awaitable[Any]], within: float = 10.0, every: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something truthy (returned) or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    pytest.fail(f"timed out after {within} s waiting for {check.__name__}; last saw {last!r}")
