"""How long creating and starting a container takes (the kubelet's pod start latency budget).

The kubelet benchmark wants a pod's create-to-Running p50 within 100 ms, so the runtime's share
must stay in the tens of milliseconds: the shim is forked from a warm fork server and reports
the start through its connection, without polling. The figures are printed (``pytest -s``);
the assertions only catch a gross regression, as timings on a shared machine vary.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from pocketkube.runtime.process.runtime import ProcessRuntime
from tests.integration.runtime.process_support import (
    container_config,
    process_runtime,
    sandbox_config,
)

N = 30


async def start_one(rt: ProcessRuntime, sandbox: str, name: str) -> float:
    began = time.perf_counter()
    cid = await rt.create_container(
        sandbox, container_config(name, "sleep", "30"), sandbox_config()
    )
    await rt.start_container(cid)
    return time.perf_counter() - began


def summary(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"{label}: n={len(ms)} p50={statistics.median(ms):.1f} ms p99={p99:.1f} ms"


async def test_start_latency(tmp_path: Path) -> None:
    async with process_runtime(tmp_path / "root") as rt:
        await rt.status()  # starts the fork server, as the kubelet's first status call does
        sandbox = await rt.run_pod_sandbox(sandbox_config("p"))
        one_by_one = [await start_one(rt, sandbox, f"seq{i}") for i in range(N)]
        at_once = await asyncio.gather(*(start_one(rt, sandbox, f"par{i}") for i in range(N)))
        print()
        print(summary("create+start, one at a time", one_by_one))
        print(summary(f"create+start, {N} at once", list(at_once)))
        assert statistics.median(one_by_one) < 0.5
        await rt.stop_pod_sandbox(sandbox)
