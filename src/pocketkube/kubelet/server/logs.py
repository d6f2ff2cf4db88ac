"""``/containerLogs``: a container's CRI log read back as ``kubectl logs`` shows it.

Upstream's ``pkg/kubelet/kuberuntime/logs``: every record of the log (the rotated files first,
oldest first, then the live one) is ``<RFC 3339 time> <stream> <P|F> <content>``; the reader
writes the content (with a newline for ``F``), prefixed by the time with ``timestamps``, keeps
the last ``tailLines`` records, drops those before ``sinceTime``/``sinceSeconds`` and stops after
``limitBytes``. With ``follow`` it keeps reading what the container writes (across rotations)
until the container has exited and the file holds no more.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from pocketkube.runtime.process.logs import LogRecord, parse_record
from pocketkube.runtime.process.shimlog import rotated_files

READ_SIZE = 1 << 20
HISTORY_READ = 1 << 20
POLL_MIN, POLL_MAX = 0.01, 0.2


class LogOptionsError(ValueError):
    """A query parameter that is not a valid PodLogOptions value."""


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since: datetime | None = None  # from sinceTime or sinceSeconds
    limit_bytes: int | None = None


def _bool(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "false").strip().lower()
    if value in ("", "true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise LogOptionsError(f"invalid value for {name}: {query.get(name)!r}")


def _int(query: Mapping[str, str], name: str, *, minimum: int) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise LogOptionsError(f"invalid value for {name}: {raw!r}") from None
    if value < minimum:
        word = "positive" if minimum > 0 else "non-negative"
        raise LogOptionsError(f"{name}: Invalid value: {value}: must be {word}")
    return value


def parse_time(raw: str) -> datetime:
    """An RFC 3339 time (nanoseconds are cut to microseconds)."""
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"no time zone in {raw!r}")
    return moment.astimezone(UTC)


def parse_log_options(query: Mapping[str, str], *, now: datetime | None = None) -> LogOptions:
    """PodLogOptions from the kubelet's query, validated as upstream's ValidatePodLogOptions."""
    since_seconds = _int(query, "sinceSeconds", minimum=1)
    since_time = query.get("sinceTime")
    if since_seconds is not None and since_time:
        raise LogOptionsError("at most one of `sinceTime` or `sinceSeconds` may be specified")
    since: datetime | None = None
    if since_seconds is not None:
        since = (now or datetime.now(UTC)) - timedelta(seconds=since_seconds)
    elif since_time:
        try:
            since = parse_time(since_time)
        except ValueError:
            raise LogOptionsError(f"invalid value for sinceTime: {since_time!r}") from None
    return LogOptions(
        follow=_bool(query, "follow"),
        previous=_bool(query, "previous"),
        timestamps=_bool(query, "timestamps"),
        tail_lines=_int(query, "tailLines", minimum=0),
        since=since,
        limit_bytes=_int(query, "limitBytes", minimum=1),
    )


def log_files(path: str) -> list[str]:
    """The rotated files of the log, oldest first, then the live one."""
    return [*rotated_files(path), path]


class _Formatter:
    """Records → the bytes ``kubectl logs`` gets, with the since/limit filters."""

    def __init__(self, options: LogOptions) -> None:
        self._options = options
        self._left = options.limit_bytes

    @property
    def done(self) -> bool:
        return self._left is not None and self._left <= 0

    def format_block(self, block: bytes) -> bytes:
        """Complete records (newline-separated) → output; the common case (no since, no
        timestamps, no limit) without building a record per line."""
        options = self._options
        if options.since is not None or options.timestamps or self._left is not None:
            return b"".join(self.format(r) for r in _records(block))
        out: list[bytes] = []
        for line in block.split(b"\n"):
            parts = line.split(b" ", 3)
            if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
                continue
            content = parts[3] if len(parts) == 4 else b""
            if parts[2] == b"F":
                out.append(content + b"\n")
            elif parts[2] == b"P":
                out.append(content)
        return b"".join(out)

    def format(self, record: LogRecord) -> bytes:
        options = self._options
        if options.since is not None:
            try:
                if parse_time(record.timestamp) < options.since:
                    return b""
            except ValueError:
                return b""
        data = record.content if record.partial else record.content + b"\n"
        if options.timestamps:
            data = record.timestamp.encode() + b" " + data
        if self._left is not None:
            data = data[: max(self._left, 0)]
            self._left -= len(data)
        return data


def _records(data: bytes) -> list[LogRecord]:
    out = []
    for line in data.split(b"\n"):
        record = parse_record(line)
        if record is not None:
            out.append(record)
    return out


async def read_logs(
    path: str,
    options: LogOptions,
    *,
    running: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """The log's bytes as chunks; with ``follow``, until ``running()`` says the container exited
    and everything it wrote was read."""
    formatter = _Formatter(options)
    # Everything written so far, a chunk at a time (only tail keeps records: its last N).
    handle: BinaryIO | None = None
    tail: deque[LogRecord] | None = (
        deque(maxlen=options.tail_lines) if options.tail_lines is not None else None
    )
    pending = b""
    try:
        for name in log_files(path):
            live = name == path
            try:
                f = await asyncio.to_thread(_open, name)
            except FileNotFoundError:
                continue
            if live:
                handle = f
            try:
                while data := await asyncio.to_thread(f.read, HISTORY_READ):
                    complete, _, pending = (pending + data).rpartition(b"\n")
                    if tail is not None:
                        tail.extend(_records(complete))
                        continue
                    if chunk := formatter.format_block(complete):
                        yield chunk
                    if formatter.done:
                        return
            finally:
                if not live:
                    f.close()
            if not live and pending:  # a rotated file ends its last record
                records, pending = _records(pending), b""
                if tail is not None:
                    tail.extend(records)
                elif chunk := b"".join(formatter.format(r) for r in records):
                    yield chunk
        if tail is not None and (chunk := b"".join(formatter.format(r) for r in tail)):
            yield chunk
        if not options.follow or formatter.done:
            return
        delay = POLL_MIN
        while not formatter.done:
            data = b""
            if handle is not None:
                data = await asyncio.to_thread(handle.read, READ_SIZE)
            if data:
                complete, _, pending = (pending + data).rpartition(b"\n")
                if chunk := formatter.format_block(complete):
                    yield chunk
                delay = POLL_MIN
                continue
            if _rotated_away(handle, path):
                if handle is not None:
                    handle.close()
                try:
                    handle = await asyncio.to_thread(_open, path)
                except FileNotFoundError:
                    handle = None
                continue
            if not await running():
                # One more read: what the container wrote just before it exited.
                if handle is not None and (rest := await asyncio.to_thread(handle.read)):
                    complete, _, pending = (pending + rest).rpartition(b"\n")
                    chunk = b"".join(formatter.format(r) for r in _records(complete))
                    if chunk:
                        yield chunk
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX)
    finally:
        if handle is not None:
            handle.close()


def _open(path: str) -> BinaryIO:
    return open(path, "rb")


def _rotated_away(handle: object, path: str) -> bool:
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    if handle is None:
        return True
    fileno = getattr(handle, "fileno", None)
    return fileno is None or os.fstat(fileno()).st_ino != current.st_ino
