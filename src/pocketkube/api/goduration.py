"""Go's ``time.ParseDuration`` text: ``1h30m``, ``90s``, ``1.5h``, ``300ms`` (no sign)."""

from __future__ import annotations

import re

# Longer units first, so "ms" is not read as "m" then "s".
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def duration_seconds(text: str) -> float:
    """The seconds ``text`` names; ValueError when it is empty or not all number-unit pairs
    (a bare ``0`` is the one number without a unit Go takes)."""
    if text == "0":
        return 0.0
    seconds, pos = 0.0, 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"invalid duration {text!r}")
    return seconds
