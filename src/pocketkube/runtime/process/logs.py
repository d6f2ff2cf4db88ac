"""Reading container logs in the CRI log format (what ``shimlog`` writes).

The kubelet reads the same format for ``kubectl logs`` (pkg/kubelet/kuberuntime/logs): each
record is ``<RFC 3339 time> <stream> <tag> <content>``, tag ``F`` ending a line and ``P`` a piece
of one that continues in the stream's next record. ``read_log`` joins the pieces back into lines
per stream; until ``kubectl logs`` lands it is how tests read what a container printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LogRecord:
    timestamp: str
    stream: str  # "stdout" or "stderr"
    partial: bool
    content: bytes


def parse_record(line: bytes) -> LogRecord | None:
    """One record, without its newline; None when it is not one."""
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        return None
    content = parts[3] if len(parts) == 4 else b""
    return LogRecord(parts[0].decode(), parts[1].decode(), parts[2] == b"P", content)


def read_log(path: str | Path) -> list[tuple[str, str]]:
    """The lines of a container log as ``(stream, line)``, partial records joined; a line the
    container had not finished when the log was read comes last. Missing file: no lines."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    lines: list[tuple[str, str]] = []
    pending: dict[str, bytes] = {}
    for raw in data.split(b"\n"):
        record = parse_record(raw)
        if record is None:
            continue
        text = pending.pop(record.stream, b"") + record.content
        if record.partial:
            pending[record.stream] = text
        else:
            lines.append((record.stream, text.decode(errors="replace")))
    lines.extend((stream, text.decode(errors="replace")) for stream, text in pending.items())
    return lines
