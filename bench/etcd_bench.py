"""How much the etcd backend costs over raw etcd puts.

One private etcd, one gRPC channel, 2 KB values, 1 / 16 / 64 concurrent writers, and three kinds
of write: raw ``Put`` RPCs through the same stubs (the ceiling), ``EtcdBackend.create`` (a
transaction that checks the key is new) and ``EtcdBackend.update`` (a transaction that compares
mod_revision and reads the key back on failure). The goal is backend writes at 0.7 x raw or better.

Run ``python -m bench.etcd_bench``; :func:`bench_etcd` measures an etcd you already have.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from bench.load import WriteFn, run_writers
from bench.stats import Summary, summarize
from pocketkube.storage.etcd import EtcdBackend

WRITERS = (1, 16, 64)
VALUE_SIZE = 2048
GOAL = 0.7
MODES = ("raw put", "backend create", "backend update")


@dataclass(frozen=True, slots=True)
class Row:
    mode: str
    writers: int
    summary: Summary


def raw_put(backend: EtcdBackend, value: bytes) -> WriteFn:
    rpc, run, fresh = backend.rpc, uuid.uuid4().hex[:8], itertools.count()

    def write(number: int, sequence: int) -> Awaitable[int]:
        return rpc.put(backend.codec.encode(f"/raw/{run}/{next(fresh)}"), value)

    return write


def backend_create(backend: EtcdBackend, value: bytes) -> WriteFn:
    run, fresh = uuid.uuid4().hex[:8], itertools.count()

    def write(number: int, sequence: int) -> Awaitable[int]:
        return backend.create(f"/create/{run}/{next(fresh)}", value)

    return write


async def backend_update(backend: EtcdBackend, value: bytes, writers: int) -> WriteFn:
    """Each writer updates its own key, passing the revision its previous write returned."""
    run = uuid.uuid4().hex[:8]
    keys = [f"/update/{run}/{number}" for number in range(writers)]
    revisions = [await backend.create(key, value) for key in keys]

    async def write(number: int, sequence: int) -> None:
        revisions[number] = await backend.update(
            keys[number], value, expected_revision=revisions[number]
        )

    return write


async def bench_etcd(
    endpoint: str,
    *,
    writers: Sequence[int] = WRITERS,
    seconds: float = 3.0,
    rounds: int = 6,
    value_size: int = VALUE_SIZE,
) -> list[Row]:
    """Measure every mode at every writer count against the etcd at ``endpoint``.

    Each cell gets ``seconds`` in all, in ``rounds`` slices that take turns with the other modes,
    so that the disk's and the machine's slow moments hit every mode alike.
    """
    value = b"x" * value_size
    backend = EtcdBackend.from_endpoint(endpoint, key_prefix=f"/bench-{uuid.uuid4().hex[:8]}")
    await backend.start()
    rows: list[Row] = []
    try:
        await run_writers(4, 0.5, raw_put(backend, value))  # warm up etcd and the channel
        for count in writers:
            makers: dict[str, WriteFn] = {
                "raw put": raw_put(backend, value),
                "backend create": backend_create(backend, value),
                "backend update": await backend_update(backend, value, count),
            }
            latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
            elapsed = dict.fromkeys(MODES, 0.0)
            for _ in range(rounds):
                for mode in MODES:
                    samples, took = await run_writers(count, seconds / rounds, makers[mode])
                    latencies[mode].extend(samples)
                    elapsed[mode] += took
            rows.extend(Row(m, count, summarize(latencies[m], elapsed[m])) for m in MODES)
    finally:
        await backend.close()
    return rows


def format_table(rows: Sequence[Row]) -> str:
    raw = {row.writers: row.summary.rate for row in rows if row.mode == "raw put"}
    lines = [
        f"{'mode':<16}{'writers':>8}{'writes/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'x raw':>8}",
    ]
    for row in rows:
        ratio = row.summary.rate / raw[row.writers] if raw.get(row.writers) else float("nan")
        lines.append(
            f"{row.mode:<16}{row.writers:>8}{row.summary.rate:>11.0f}"
            f"{row.summary.p50_ms:>9.2f}{row.summary.p99_ms:>9.2f}{ratio:>8.2f}"
        )
    return "\n".join(lines)


def meets_goal(rows: Sequence[Row], goal: float = GOAL) -> bool:
    raw = {row.writers: row.summary.rate for row in rows if row.mode == "raw put"}
    return all(row.summary.rate >= goal * raw[row.writers] for row in rows if row.mode != "raw put")


def run(*, endpoint: str = "", seconds: float = 3.0, tmpfs: bool = False) -> list[Row]:
    """Benchmark ``endpoint``, or a private etcd started for the purpose; print the table.

    With ``tmpfs`` the private etcd keeps its data in /dev/shm, where fsync costs nothing: the
    numbers then show the client's and etcd's CPU costs rather than the disk's.
    """
    where = endpoint
    if endpoint:
        rows = asyncio.run(bench_etcd(endpoint, seconds=seconds))
    else:
        from tests.etcd_server import EtcdServer

        parent = "/dev/shm" if tmpfs else None
        where = "a private etcd on " + ("tmpfs" if tmpfs else "disk")
        with EtcdServer(data_parent=parent) as server:
            rows = asyncio.run(bench_etcd(server.endpoint, seconds=seconds))
    print(f"etcd writes against {where}, {VALUE_SIZE} B values, {seconds:g} s per cell")
    print(format_table(rows))
    verdict = "meets" if meets_goal(rows) else "MISSES"
    print(f"backend {verdict} the goal of {GOAL} x raw puts")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="", help="an etcd to measure (default: private)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each cell")
    parser.add_argument("--tmpfs", action="store_true", help="private etcd's data in /dev/shm")
    args = parser.parse_args()
    run(endpoint=args.endpoint, seconds=args.seconds, tmpfs=args.tmpfs)


if __name__ == "__main__":
    main()
