"""The container log reader behind /containerLogs: options, tail, since, limit, rotation, follow."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pocketkube.kubelet.server.logs import (
    LogOptions,
    LogOptionsError,
    parse_log_options,
    parse_time,
    read_logs,
)


def record(ts: str, text: str, stream: str = "stdout", tag: str = "F") -> str:
    return f"2026-01-01T00:00:{ts}.000000001Z {stream} {tag} {text}\n"


async def collect(path: Path, options: LogOptions, running: bool = False) -> bytes:
    async def is_running() -> bool:
        return running

    return b"".join([c async for c in read_logs(str(path), options, running=is_running)])


def test_parse_options() -> None:
    now = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    options = parse_log_options(
        {"follow": "true", "tailLines": "3", "sinceSeconds": "30", "timestamps": "1"}, now=now
    )
    assert options.follow
    assert options.timestamps
    assert options.tail_lines == 3
    assert options.since == datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert parse_log_options({"sinceTime": "2026-01-01T00:00:05Z"}).since == parse_time(
        "2026-01-01T00:00:05.000000000Z"
    )


@pytest.mark.parametrize(
    "query",
    [
        {"tailLines": "-1"},
        {"limitBytes": "0"},
        {"sinceSeconds": "0"},
        {"sinceSeconds": "1", "sinceTime": "2026-01-01T00:00:00Z"},
        {"sinceTime": "yesterday"},
        {"follow": "maybe"},
        {"tailLines": "x"},
    ],
)
def test_bad_options(query: dict[str, str]) -> None:
    with pytest.raises(LogOptionsError):
        parse_log_options(query)


async def test_lines_partial_tail_timestamps_since_limit(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_text(
        record("01", "one")
        + record("02", "tw", tag="P")
        + record("02", "o")
        + record("03", "err", stream="stderr")
        + record("04", "four")
    )
    assert await collect(log, LogOptions()) == b"one\ntwo\nerr\nfour\n"
    assert await collect(log, LogOptions(tail_lines=2)) == b"err\nfour\n"
    assert await collect(log, LogOptions(tail_lines=0)) == b""
    since = parse_time("2026-01-01T00:00:03Z")
    assert await collect(log, LogOptions(since=since)) == b"err\nfour\n"
    assert await collect(log, LogOptions(limit_bytes=6)) == b"one\ntw"
    stamped = await collect(log, LogOptions(timestamps=True, tail_lines=1))
    assert stamped == b"2026-01-01T00:00:04.000000001Z four\n"


async def test_rotated_files_first(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    (tmp_path / "0.log.20260101-000001").write_text(record("01", "old"))
    (tmp_path / "0.log.20260101-000002").write_text(record("02", "older-but-newer"))
    log.write_text(record("03", "live"))
    assert await collect(log, LogOptions()) == b"old\nolder-but-newer\nlive\n"


async def test_follow_until_exit_and_across_rotation(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_text(record("01", "a"))
    state = {"running": True}

    async def running() -> bool:
        return state["running"]

    chunks: list[bytes] = []

    async def reader() -> None:
        async for chunk in read_logs(str(log), LogOptions(follow=True), running=running):
            chunks.append(chunk)

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.1)
    with log.open("a") as f:
        f.write(record("02", "b"))
    await asyncio.sleep(0.3)
    os.rename(log, tmp_path / "0.log.20260101-000002")
    log.write_text(record("03", "c"))
    await asyncio.sleep(0.3)
    with log.open("a") as f:
        f.write(record("04", "d"))
    state["running"] = False
    await asyncio.wait_for(task, 5)
    assert b"".join(chunks) == b"a\nb\nc\nd\n"


async def test_a_large_log_streams_in_chunks(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    line = "x" * 99
    with log.open("w") as f:
        for i in range(60_000):
            f.write(record("01", f"{i:06d}{line}"))
    chunks = []
    async for chunk in read_logs(str(log), LogOptions(), running=lambda: _false()):
        chunks.append(chunk)
    assert len(chunks) > 1  # not one buffer of everything
    data = b"".join(chunks)
    assert data.count(b"\n") == 60_000
    assert data.startswith(b"000000x")
    last = await collect(log, LogOptions(tail_lines=2))
    assert last == f"059998{line}\n059999{line}\n".encode()


async def _false() -> bool:
    return False
