"""Writes to a SQLite backend until killed; test_sqlite_crash.py runs it and kills it with -9.

Usage: ``python sqlite_crash_writer.py DB RUN``. Eight asyncio writers each create, update and
sometimes delete their own keys (reading the current revision first, so that the writes are
compare-and-swap as the API server's are) and print one line per *acknowledged* write:
``ACK <key> <revision> <sha256 of the value, or - for a delete>``, flushed at once, so that
every line the parent reads is a write the backend promised to keep. Every so often the process
also compacts, so that some kills land in the middle of a compaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
from pathlib import Path

from pocketkube.storage.sqlite import SQLiteBackend

WRITERS = 8
KEYS_PER_WRITER = 4
COMPACT_EVERY = 300  # acknowledged writes
KEEP_REVISIONS = 200


def ack(key: str, revision: int, value: bytes | None) -> None:
    digest = hashlib.sha256(value).hexdigest() if value is not None else "-"
    sys.stdout.write(f"ACK {key} {revision} {digest}\n")
    sys.stdout.flush()


async def writer(backend: SQLiteBackend, index: int, run: str, acks: list[int]) -> None:
    rng = random.Random(f"{run}/{index}")
    keys = [f"/crash/w{index}/k{j}" for j in range(KEYS_PER_WRITER)]
    for n in range(1_000_000):
        key = rng.choice(keys)
        value = f"{run}:{index}:{n}:".encode() * rng.randrange(1, 100)
        kv, _ = await backend.get(key)
        if kv is None:
            revision = await backend.create(key, value)
        elif rng.random() < 0.1:
            revision, _ = await backend.delete(key, expected_revision=kv.mod_revision)
            ack(key, revision, None)
            continue
        else:
            revision = await backend.update(key, value, expected_revision=kv.mod_revision)
        ack(key, revision, value)
        acks[0] += 1
        if acks[0] % COMPACT_EVERY == 0:
            await backend.compact(revision - KEEP_REVISIONS)


async def main(path: Path, run: str) -> None:
    backend = SQLiteBackend(path)
    await backend.start()
    sys.stdout.write("STARTED\n")
    sys.stdout.flush()
    acks = [0]
    await asyncio.gather(*(writer(backend, i, run, acks) for i in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
