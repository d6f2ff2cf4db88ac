"""Times as the API writes them: metav1.Time is RFC 3339 in UTC with whole seconds
(``2024-05-01T12:00:00Z``); reading accepts any RFC 3339 form (fractions, offsets) and treats
a missing zone as UTC. Anything unreadable is ``None``, never an exception: a controller must
not fail on a bad timestamp someone else wrote."""

from __future__ import annotations

import datetime as dt
import time


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(when: dt.datetime) -> str:
    """``when`` as a metav1.Time: UTC, whole seconds."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_formatted_second: tuple[int, str] = (-1, "")


def second_text(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) of a second since the epoch. Timestamps are written hundreds
    of times a second, so the latest second's text is kept rather than formatted each time."""
    global _formatted_second
    if _formatted_second[0] != seconds:
        _formatted_second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return _formatted_second[1]


def parse_time(value: object) -> dt.datetime | None:
    """An RFC 3339 timestamp, timezone-aware, or None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
