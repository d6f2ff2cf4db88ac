"""What the watch cache costs: big lists from memory, and one event fanned out to many watchers.

1. A list of 10,000 cached pod-like objects (~1 KB of JSON each) at resourceVersion 0, with and
   without a label predicate, timed up to the finished response body (the JSON join of the kept
   raw items). The goal is p50 <= 30 ms; the same list read from the storage is shown beside it.
2. Fan-out: 100 watchers, N pods created one after another; the time until every watcher has
   received every event, and the events per second delivered in all.

Run ``python -m bench.cache_bench``; :func:`bench_list` and :func:`bench_fanout` return the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bench.stats import percentile
from pocketkube.storage.cacher import Cacher
from pocketkube.storage.interface import ListOptions, Obj, ObjectList, Predicate, WatchOptions
from pocketkube.storage.memory import MemoryBackend
from pocketkube.storage.store import KVStorage

PREFIX = "/registry/pods/"
LIST_GOAL_MS = 30.0


def pod(i: int) -> Obj:
    """A realistic pod of about 1 KB."""
    name = f"web-{i:05}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": f"ns-{i % 10}",
            "uid": f"6b1f0c3e-{i:04x}-4b7e-9c1a-2f3d4e5f6a7b",
            "creationTimestamp": "2024-05-01T12:00:00Z",
            "labels": {"app": "web" if i % 2 else "db", "tier": f"t{i % 4}"},
            "annotations": {"kubernetes.io/psp": "restricted"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-7d9c",
                    "uid": "0c9e4f5a-1b2c-4d3e-8f90-a1b2c3d4e5f6",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "nodeName": f"node-{i % 50}",
            "restartPolicy": "Always",
            "containers": [
                {
                    "name": "web",
                    "image": "registry.k8s.io/nginx:1.25",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "env": [{"name": "MODE", "value": "production"}],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                    },
                }
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": f"10.244.{i % 250}.{i % 200 + 2}",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T12:00:05Z"},
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastTransitionTime": "2024-05-01T12:00:01Z",
                },
            ],
        },
    }


def web(obj: Obj) -> bool:
    labels = obj["metadata"].get("labels")
    return labels is not None and labels.get("app") == "web"


def list_body(listed: ObjectList) -> bytes:
    """The response body as the API server writes it: raw items joined, never re-encoded."""
    if listed.raw_items is None:
        raw = [orjson.dumps(item) for item in listed.items]
    else:
        raw = listed.raw_items
    head = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"%s"},"items":[' % (
        listed.resource_version.encode()
    )
    if not raw:
        return head + b"]}"
    # One allocation of the whole body: glue the head and tail onto the first and last items
    # rather than concatenating a 10 MB join twice more.
    parts = list(raw)
    parts[0] = head + parts[0]
    parts[-1] = parts[-1] + b"]}"
    return b",".join(parts)


@dataclass(frozen=True, slots=True)
class ListRow:
    source: str
    predicate: str
    items: int
    body_kb: int
    p50_ms: float
    p99_ms: float


async def _time_list(
    storage: Any, opts: ListOptions, runs: int
) -> tuple[list[float], ObjectList, int]:
    samples = []
    listed = ObjectList(items=[], resource_version="")
    size = 0
    for _ in range(runs):
        started = time.perf_counter()
        listed = await storage.get_list(PREFIX, opts)
        size = len(list_body(listed))
        samples.append(time.perf_counter() - started)
    return samples, listed, size


async def bench_list(*, objects: int = 10_000, runs: int = 50) -> list[ListRow]:
    storage = KVStorage(MemoryBackend())
    for i in range(objects):
        obj = pod(i)
        await storage.create(
            f"{PREFIX}{obj['metadata']['namespace']}/{obj['metadata']['name']}", obj
        )
    rows = []
    async with Cacher(storage, prefix=PREFIX) as cache:
        await cache.wait_ready()
        cases: Sequence[tuple[str, Any, str, Predicate | None, int]] = [
            ("cache", cache, "none", None, runs),
            ("cache", cache, "app=web", web, runs),
            ("storage", storage, "none", None, max(5, runs // 10)),
        ]
        for source, target, label, predicate, count in cases:
            opts = ListOptions(
                resource_version="0" if source == "cache" else "", predicate=predicate
            )
            samples, listed, size = await _time_list(target, opts, count)
            rows.append(
                ListRow(
                    source,
                    label,
                    len(listed.items),
                    size // 1024,
                    percentile(samples, 50) * 1000,
                    percentile(samples, 99) * 1000,
                )
            )
    return rows


@dataclass(frozen=True, slots=True)
class FanoutRow:
    watchers: int
    events: int
    seconds: float
    delivered_per_s: float
    terminated: int


async def bench_fanout(*, watchers: int = 100, events: int = 2_000) -> FanoutRow:
    storage = KVStorage(MemoryBackend())
    async with Cacher(storage, prefix=PREFIX) as cache:
        await cache.wait_ready()
        streams = [cache.watch(PREFIX, WatchOptions(resource_version="0")) for _ in range(watchers)]
        done = asyncio.Event()
        remaining = watchers

        async def receive(stream: Any) -> None:
            nonlocal remaining
            seen = 0
            async with stream:
                async for _ in stream:
                    seen += 1
                    if seen == events:
                        break
            remaining -= 1
            if remaining == 0:
                done.set()

        objs = [pod(i) for i in range(events)]
        async with asyncio.TaskGroup() as group:
            for stream in streams:
                group.create_task(receive(stream))
            while True:  # every watcher registered: no event may precede a registration
                if cache.statistics()["watchers"] == watchers:
                    break
                await asyncio.sleep(0.001)
            started = time.perf_counter()
            for obj in objs:
                meta = obj["metadata"]
                await storage.create(f"{PREFIX}{meta['namespace']}/{meta['name']}", obj)
                await asyncio.sleep(0)  # a real datastore write suspends
            await done.wait()
            seconds = time.perf_counter() - started
        terminated = cache.statistics()["terminated_slow_watchers"]
    return FanoutRow(watchers, events, seconds, watchers * events / seconds, terminated)


def format_list(rows: Sequence[ListRow]) -> str:
    lines = [f"{'source':<9}{'predicate':<11}{'items':>7}{'body KB':>9}{'p50 ms':>9}{'p99 ms':>9}"]
    for r in rows:
        lines.append(
            f"{r.source:<9}{r.predicate:<11}{r.items:>7}{r.body_kb:>9}"
            f"{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}"
        )
    return "\n".join(lines)


def format_fanout(rows: Sequence[FanoutRow]) -> str:
    lines = [f"{'watchers':>8}{'events':>8}{'seconds':>9}{'delivered/s':>13}{'dropped':>9}"]
    for r in rows:
        lines.append(
            f"{r.watchers:>8}{r.events:>8}{r.seconds:>9.2f}{r.delivered_per_s:>13.0f}"
            f"{r.terminated:>9}"
        )
    return "\n".join(lines)


async def run(*, objects: int, runs: int, watchers: int, events: int) -> None:
    rows = await bench_list(objects=objects, runs=runs)
    print(f"list of {objects} pods at resourceVersion 0, body joined from raw items ({runs} runs)")
    print(format_list(rows))
    cached = [r for r in rows if r.source == "cache"]
    verdict = "meets" if all(r.p50_ms <= LIST_GOAL_MS for r in cached) else "MISSES"
    print(f"cache {verdict} the goal of p50 <= {LIST_GOAL_MS:g} ms\n")
    fanout = await bench_fanout(watchers=watchers, events=events)
    print(f"watch fan-out: {watchers} watchers, {events} creates, until all received all")
    print(format_fanout([fanout]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--events", type=int, default=2_000)
    args = parser.parse_args()
    asyncio.run(
        run(objects=args.objects, runs=args.runs, watchers=args.watchers, events=args.events)
    )


if __name__ == "__main__":
    main()
