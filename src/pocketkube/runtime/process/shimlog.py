"""The shim's writer of container logs in the CRI log format, with rotation.

Upstream the runtime (containerd's CRI plugin, CRI-O's conmon) writes a container's stdout and
stderr to the file the kubelet named, one record per line::

    2016-10-06T00:17:09.669794202Z stdout F a full line
    2016-10-06T00:17:09.669794202Z stderr P the start of a line that did not end yet

and the kubelet reads it back for ``kubectl logs`` (``logs.py`` here). As conmon does, each chunk
read from the container's pipes is written at once: its complete lines as ``F`` records and a
trailing piece without newline as a ``P`` (partial) record, which the reader joins with what
follows, so output is never held back waiting for a newline. Timestamps are RFC 3339 in UTC
with nine fractional digits (fixed width, which Go's RFC3339Nano parser accepts).

Rotation follows the kubelet's container log manager (containerLogMaxSize, default 10 MiB, and
containerLogMaxFiles, default 5, counting the live file): when a record would take the file past
the size, it is renamed to ``<path>.<YYYYmmdd-HHMMSS>`` and a new one started, and the oldest
rotated files beyond the count are deleted. Upstream the kubelet rotates and asks the runtime to
reopen the file; here the shim, which holds the file, does both. Rotated files are not gzipped.

The shim imports this module, so it uses the standard library only.
"""

from __future__ import annotations

import contextlib
import os
import time

MAX_SIZE = 10 * 1024 * 1024
MAX_FILES = 5
ROTATED_FORMAT = "%Y%m%d-%H%M%S"


class Timestamps:
    """RFC 3339 UTC timestamps with nanoseconds; the seconds part is formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def format(self, ns: int) -> str:
        second, frac = divmod(ns, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{frac:09d}Z"


def records(stream: str, data: bytes, stamp: str) -> list[bytes]:
    """The CRI log records of one chunk of a stream: ``F`` per complete line, ``P`` for a
    trailing piece without newline."""
    head = f"{stamp} {stream} ".encode()
    lines = data.split(b"\n")
    out = [head + b"F " + line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(head + b"P " + lines[-1] + b"\n")
    return out


class LogWriter:
    """Appends CRI log records to one file, rotating it by size."""

    def __init__(self, path: str, *, max_size: int = MAX_SIZE, max_files: int = MAX_FILES) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(max_files, 2)  # the live file and at least one rotated
        self._stamps = Timestamps()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)

    def write(self, stream: str, data: bytes, *, now_ns: int | None = None) -> None:
        """Write what the container wrote to ``stream`` ("stdout" or "stderr")."""
        stamp = self._stamps.format(time.time_ns() if now_ns is None else now_ns)
        batch = b""
        for record in records(stream, data, stamp):
            if self.max_size > 0 and self._size + len(batch) + len(record) > self.max_size:
                self._flush(batch)
                batch = b""
                if self._size > 0:
                    self.rotate()
            batch += record
        self._flush(batch)

    def _flush(self, batch: bytes) -> None:
        view = memoryview(batch)
        while view:
            try:
                written = os.write(self._fd, view)
            except OSError:  # a full disk loses output but must not stop the container
                return
            view = view[written:]
            self._size += written

    def rotate(self) -> None:
        """Move the live file aside under a timestamped name and start a new one."""
        os.close(self._fd)
        base = f"{self.path}.{time.strftime(ROTATED_FORMAT, time.gmtime())}"
        same_second = [
            _order(self.path, f)[1] for f in rotated_files(self.path) if f.startswith(base)
        ]
        target = f"{base}.{max(same_second) + 1}" if same_second else base
        with contextlib.suppress(FileNotFoundError):  # removed under us: nothing to keep
            os.rename(self.path, target)
        self._fd = self._open()
        self._size = 0
        for old in rotated_files(self.path)[: -(self.max_files - 1)]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(old)

    def close(self) -> None:
        os.close(self._fd)


def _order(path: str, rotated: str) -> tuple[str, int]:
    """Sort key of a rotated file: its timestamp, then the counter of rotations within the
    same second (``0.log.20240101-120000``, ``...-120000.1``, ``...-120000.2``...)."""
    stamp, _, n = rotated[len(path) + 1 :].partition(".")
    return stamp, int(n) if n.isdigit() else 0


def rotated_files(path: str) -> list[str]:
    """The rotated files of a log, oldest first."""
    directory, name = os.path.split(path)
    try:
        entries = os.listdir(directory or ".")
    except FileNotFoundError:
        return []
    found = [os.path.join(directory, e) for e in entries if e.startswith(name + ".")]
    return sorted(found, key=lambda f: _order(path, f))
