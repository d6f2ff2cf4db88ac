"""Crash-loop back-off of restarting containers (upstream client-go flowcontrol.Backoff).

Each container (by pod uid and name) has a delay that starts at ``base`` (10 s), doubles at every
restart up to ``cap`` (300 s), and is forgotten when the container last failed more than twice
the cap ago (so 10 minutes of clean running reset it). A container is "in back-off" while less
than its delay has passed since it last finished. Times are seconds of a monotonic clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

BASE = 10.0
CAP = 300.0


@dataclass
class _Entry:
    delay: float
    last_update: float


class Backoff:
    def __init__(
        self, *, base: float = BASE, cap: float = CAP, clock: Callable[[], float] = time.time
    ) -> None:
        self.base = base
        self.cap = cap
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        """Whether less than the key's delay has passed since ``event_time`` (its last exit)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            return False
        return self._clock() - event_time < entry.delay

    def remaining(self, key: str, event_time: float) -> float:
        """Seconds until the back-off since ``event_time`` ends (0 when not in back-off)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            return 0.0
        return max(0.0, event_time + entry.delay - self._clock())

    def next(self, key: str, event_time: float) -> None:
        """Record a restart after an exit at ``event_time``: double the delay (or start over)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            entry = self._entries[key] = _Entry(self.base, 0.0)
        else:
            entry.delay = min(entry.delay * 2, self.cap)
        entry.last_update = self._clock()

    def forget(self, prefix: str) -> None:
        """Drop every key starting with ``prefix`` (a pod's uid when it is gone)."""
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def gc(self) -> None:
        now = self._clock()
        for key in [k for k, e in self._entries.items() if now - e.last_update > 2 * self.cap]:
            del self._entries[key]

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        return event_time - entry.last_update > 2 * self.cap
