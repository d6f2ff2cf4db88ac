"""The server's child-process supervisor: restart back-off, and its reset after a healthy run."""

from __future__ import annotations

import asyncio
import sys

import pytest

from pocketkube.cli import components
from pocketkube.cli.components import ComponentProcess


@pytest.mark.parametrize(("healthy_run", "expected"), [(3600.0, [1.0, 2.0, 4.0]), (0.0, [1.0] * 3)])
async def test_restart_back_off(
    monkeypatch: pytest.MonkeyPatch, healthy_run: float, expected: list[float]
) -> None:
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == len(expected):
            raise asyncio.CancelledError

    monkeypatch.setattr(components, "HEALTHY_RUN", healthy_run)
    monkeypatch.setattr(components.asyncio, "sleep", fake_sleep)
    child = ComponentProcess(name="crasher", args=[])
    child.argv = [sys.executable, "-c", "raise SystemExit(3)"]
    with pytest.raises(asyncio.CancelledError):
        await child.run()
    assert delays == expected
    assert child.restarts == len(expected)
