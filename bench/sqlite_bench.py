"""What the embedded SQLite datastore sustains: group-committed writes and big reads.

1. Writes of 2 KB values with 1, 16 and 64 concurrent writers, ``synchronous=FULL`` (every
   acknowledged write is on disk): creates of new keys and updates with an expected revision.
   Writes/s, p50/p99 latency, and the mean group-commit batch (writes per transaction). The goal
   is >= 5,000 writes/s at 16 writers.
2. A list of 10,000 keys (2 KB values) straight from the backend, and through KVStorage (which
   decodes every object): the cost of a consistent list that the watch cache does not serve.

Run ``python -m bench.sqlite_bench`` from the repository root; the database lives in a temporary
directory on the same disk as the working tree (``--dir`` to choose), not in tmpfs.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.load import WriteFn, run_writers
from bench.stats import Summary, percentile, summarize
from pocketkube.storage.interface import ListOptions
from pocketkube.storage.sqlite import SQLiteBackend
from pocketkube.storage.store import KVStorage

WRITERS = (1, 16, 64)
VALUE_SIZE = 2048
WRITE_GOAL = 5_000  # writes/s at 16 writers


@dataclass(frozen=True, slots=True)
class WriteRow:
    mode: str
    writers: int
    summary: Summary
    mean_batch: float


_fresh = itertools.count()


def creates(backend: SQLiteBackend, value: bytes) -> WriteFn:
    fresh = _fresh

    def write(number: int, sequence: int) -> object:
        return backend.create(f"/bench/create/{next(fresh):08d}", value)

    return write  # type: ignore[return-value]


async def updates(backend: SQLiteBackend, value: bytes, writers: int) -> WriteFn:
    keys = [f"/bench/update/{writers}/{n}" for n in range(writers)]
    revisions = [await backend.create(key, value) for key in keys]

    async def write(number: int, sequence: int) -> None:
        revisions[number] = await backend.update(
            keys[number], value, expected_revision=revisions[number]
        )

    return write


async def bench_writes(
    directory: Path, *, writers: Sequence[int] = WRITERS, seconds: float = 3.0
) -> list[WriteRow]:
    value = b"x" * VALUE_SIZE
    rows: list[WriteRow] = []
    backend = SQLiteBackend(directory / "bench.db")
    await backend.start()
    try:
        await run_writers(4, 0.5, creates(backend, value))  # warm up
        for count in writers:
            for mode in ("create", "update"):
                write = creates(backend, value) if mode == "create" else None
                write = write or await updates(backend, value, count)
                before = backend.statistics()
                latencies, took = await run_writers(count, seconds, write)
                after = backend.statistics()
                transactions = max(1, after.transactions - before.transactions)
                batch = (after.writes - before.writes) / transactions
                rows.append(WriteRow(mode, count, summarize(latencies, took), batch))
    finally:
        await backend.close()
    return rows


async def bench_list(directory: Path, *, keys: int = 10_000, runs: int = 10) -> dict[str, Summary]:
    value = b'{"metadata":{"name":"x"},"data":{"v":"' + b"x" * (VALUE_SIZE - 40) + b'"}}'
    backend = SQLiteBackend(directory / "list.db")
    await backend.start()
    try:
        await asyncio.gather(*(backend.create(f"/bench/list/{i:06d}", value) for i in range(keys)))
        storage = KVStorage(backend)
        results: dict[str, Summary] = {}
        for name, read in (
            ("backend list", lambda: backend.list("/bench/list/")),
            ("KVStorage list", lambda: storage.get_list("/bench/list/", ListOptions())),
            (
                "KVStorage page of 500",
                lambda: storage.get_list("/bench/list/", ListOptions(limit=500)),
            ),
        ):
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                await read()
                samples.append(time.perf_counter() - started)
            results[name] = summarize(samples, sum(samples))
        return results
    finally:
        await backend.close()


def format_writes(rows: Sequence[WriteRow]) -> str:
    lines = [f"{'mode':<8}{'writers':>8}{'writes/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'batch':>8}"]
    for r in rows:
        s = r.summary
        lines.append(
            f"{r.mode:<8}{r.writers:>8}{s.rate:>10.0f}{s.p50_ms:>9.2f}{s.p99_ms:>9.2f}"
            f"{r.mean_batch:>8.1f}"
        )
    return "\n".join(lines)


async def run(*, directory: Path, seconds: float) -> None:
    rows = await bench_writes(directory, seconds=seconds)
    print(f"SQLite writes, synchronous=FULL, {VALUE_SIZE} B values, {seconds:g} s per cell")
    print(format_writes(rows))
    at16 = [r.summary.rate for r in rows if r.writers == 16]
    verdict = "meets" if at16 and min(at16) >= WRITE_GOAL else "MISSES"
    print(f"{verdict} the goal of {WRITE_GOAL} writes/s at 16 writers\n")
    lists = await bench_list(directory)
    print("list of 10,000 keys (2 KB values)")
    for name, summary in lists.items():
        print(f"  {name:<24} p50 {summary.p50_ms:8.1f} ms   p99 {summary.p99_ms:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each cell")
    parser.add_argument("--dir", type=Path, default=None, help="where the databases go")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir or Path.cwd()) as tmp:
        asyncio.run(run(directory=Path(tmp), seconds=args.seconds))


__all__ = ["bench_list", "bench_writes", "percentile"]

if __name__ == "__main__":
    main()
