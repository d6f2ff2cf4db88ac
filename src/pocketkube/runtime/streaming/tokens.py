"""One-time tokens for streaming URLs, as upstream's request cache (cri/streaming/request_cache.go):
a token is good for one request within a minute; at most 1000 are outstanding."""

from __future__ import annotations

import base64
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pocketkube.runtime import cri

TTL = 60.0
MAX_IN_FLIGHT = 1000


@dataclass(frozen=True)
class Pending:
    kind: str  # "exec", "attach" or "portforward"
    request: cri.StreamRequest
    expires: float


class RequestCache:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: OrderedDict[str, Pending] = OrderedDict()

    def _gc(self) -> None:
        now = self._clock()
        while self._entries:
            token, entry = next(iter(self._entries.items()))
            if entry.expires > now:
                break
            del self._entries[token]

    def insert(self, kind: str, request: cri.StreamRequest) -> str:
        self._gc()
        if len(self._entries) >= MAX_IN_FLIGHT:
            raise cri.RuntimeError_(
                "ResourceExhausted", "maximum number of in-flight requests exceeded"
            )
        token = base64.urlsafe_b64encode(secrets.token_bytes(8)).decode().rstrip("=")
        self._entries[token] = Pending(kind, request, self._clock() + TTL)
        return token

    def consume(self, token: str) -> Pending | None:
        """The request for token, once; None if unknown, used or expired."""
        entry = self._entries.pop(token, None)
        if entry is None or entry.expires <= self._clock():
            return None
        return entry
