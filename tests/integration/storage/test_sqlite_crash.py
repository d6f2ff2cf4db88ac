"""RELIABILITY F1 for the datastore: kill -9 a process writing to SQLite, again and again.

A child process (sqlite_crash_writer.py) writes with eight concurrent writers and prints every
acknowledged write; we kill it at random moments (some while it is still opening the database)
and reopen the same file each time. Afterwards every acknowledged write must be in the log with
its value, unless compaction was allowed to remove it because a later write replaced it; the log's
revisions must be strictly increasing and chained per key; and SQLite must find the file intact.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pocketkube.storage.sqlite import SQLiteBackend

WRITER = Path(__file__).with_name("sqlite_crash_writer.py")
KILLS = 24
BUDGET_SECONDS = 50.0


@dataclass(frozen=True)
class Ack:
    run: int
    key: str
    revision: int
    digest: str  # "-" for a delete


def run_and_kill(db: Path, run: int, rng: random.Random, out: Path) -> list[Ack]:
    with out.open("w") as stdout:
        proc = subprocess.Popen([sys.executable, str(WRITER), str(db), str(run)], stdout=stdout)
    try:
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.0, 0.4))  # possibly while it creates or opens the file
        else:
            deadline = time.monotonic() + 20
            while "ACK" not in out.read_text():
                assert proc.poll() is None, f"writer exited with {proc.returncode}"
                assert time.monotonic() < deadline, "writer never acknowledged a write"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.6))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    acks = []
    for line in out.read_text().splitlines(keepends=True):
        if line.startswith("ACK ") and line.endswith("\n"):
            _, key, revision, digest = line.split()
            acks.append(Ack(run, key, int(revision), digest))
    return acks


@pytest.mark.slow
def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    rng = random.Random(1)
    acks: list[Ack] = []
    started = time.monotonic()
    runs = 0
    while runs < KILLS and (runs < 20 or time.monotonic() - started < BUDGET_SECONDS):
        acks += run_and_kill(db, runs, rng, tmp_path / f"run{runs}.out")
        runs += 1
    assert runs >= 20
    assert len(acks) > 500, "the writer hardly wrote anything between the kills"

    # Revisions strictly increase across runs: nothing acknowledged is ever reused.
    revisions = [a.revision for a in acks]
    assert len(set(revisions)) == len(revisions)
    for run in range(1, runs):
        before = [a.revision for a in acks if a.run < run]
        now = [a.revision for a in acks if a.run == run]
        if before and now:
            assert min(now) > max(before)

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        compacted = conn.execute("SELECT value FROM meta WHERE key = 'compacted'").fetchone()[0]
        rows = read_rows(conn)
    finally:
        conn.close()

    newest_ack: dict[str, Ack] = {}
    for a in acks:
        newest_ack[a.key] = a  # acks of one key are printed in revision order
    for a in acks:
        row = rows.get(a.revision)
        if row is None:
            # Only compaction may drop an acknowledged row, and only one a later write replaced.
            assert a.revision < compacted, a
            assert newest_ack[a.key].revision > a.revision or a.digest == "-", a
            continue
        assert row.name == a.key, a
        assert row.deleted == (a.digest == "-"), a
        if a.digest != "-":
            assert row.digest == a.digest, a

    # Per key, the log is a chain: each row replaced the key's previous row.
    by_key: dict[str, list[Row]] = {}
    for rev in sorted(rows):
        by_key.setdefault(rows[rev].name, []).append(rows[rev])
    for chain in by_key.values():
        for before, after in itertools.pairwise(chain):
            assert after.prev_revision == before.revision
            assert after.created == before.deleted
    assert asyncio.run(check_backend(db, newest_ack, rows))
    print(f"{runs} kills, {len(acks)} acknowledged writes, {len(rows)} rows, compacted {compacted}")


@dataclass(frozen=True)
class Row:
    revision: int
    name: str
    created: bool
    deleted: bool
    prev_revision: int
    digest: str


def read_rows(conn: sqlite3.Connection) -> dict[int, Row]:
    sql = "SELECT id, name, created, deleted, prev_revision, value FROM log ORDER BY id"
    return {
        rev: Row(rev, name, bool(created), bool(deleted), prev, hashlib.sha256(value).hexdigest())
        for rev, name, created, deleted, prev, value in conn.execute(sql)
    }


async def check_backend(db: Path, newest_ack: dict[str, Ack], rows: dict[int, Row]) -> bool:
    """Reopened one last time, the backend serves each key's newest row."""
    backend = SQLiteBackend(db)
    await backend.start()
    try:
        assert await backend.current_revision() == max(rows)
        for key, a in newest_ack.items():
            kv, _ = await backend.get(key)
            newest = max(rev for rev, r in rows.items() if r.name == key)
            assert newest >= a.revision
            if rows[newest].deleted:
                assert kv is None
            else:
                assert kv is not None
                assert kv.mod_revision == newest
        await backend.create("/crash/after", b"still writable")
    finally:
        await backend.close()
    return True
