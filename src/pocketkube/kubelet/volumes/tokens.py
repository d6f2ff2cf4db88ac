"""Service-account tokens for projected volumes, requested once and renewed before they expire.

A ``serviceAccountToken`` projection is a TokenRequest bound to the pod (so deleting the pod
revokes it). Requesting one on every sync would sign thousands of tokens, so as upstream's token
manager (pkg/kubelet/token/token_manager.go) the kubelet keeps each token and asks for a new
one only when it is older than 24 hours or has less than 20% of its lifetime left (minus up to
10 s of jitter so that many pods do not renew in the same second). A failed renewal keeps the
old token while it is still valid; only a token that cannot be had at all is an error
(``failed to fetch token: ...``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from pocketkube.kubelet.volumes.source import ServiceAccountToken, SourceError, VolumeSource

Obj = dict[str, Any]
MAX_TTL = 24 * 3600.0
MAX_JITTER = 10.0
Key = tuple[str, str, str, int, str]  # namespace, service account, audience, seconds, pod uid


class TokenManager:
    def __init__(
        self,
        *,
        source: VolumeSource,
        now: Callable[[], float] = time.time,
        jitter: Callable[[], float] = lambda: random.uniform(0.0, MAX_JITTER),
    ) -> None:
        self._source = source
        self._now = now
        self._jitter = jitter
        self._tokens: dict[Key, ServiceAccountToken] = {}

    def _needs_refresh(self, token: ServiceAccountToken, seconds: int) -> bool:
        now, jitter = self._now(), self._jitter()
        issued = token.expires_at - seconds
        return now > issued + MAX_TTL - jitter or now > token.expires_at - seconds * 0.2 - jitter

    async def get(
        self,
        namespace: str,
        service_account: str,
        audience: str,
        expiration_seconds: int,
        pod: Obj,
    ) -> str:
        """The token to project; raises ``SourceError`` when there is no valid one."""
        key: Key = (namespace, service_account, audience, expiration_seconds, pod_uid(pod))
        cached = self._tokens.get(key)
        if cached is not None and not self._needs_refresh(cached, expiration_seconds):
            return cached.token
        try:
            fresh = await self._source.request_token(
                namespace, service_account, audience, expiration_seconds, pod
            )
        except SourceError as err:
            if cached is None:
                raise SourceError(f"failed to fetch token: {err.message}") from None
            if self._now() >= cached.expires_at:
                raise SourceError(
                    f'token "{service_account}"/"{namespace}" expired and refresh failed: '
                    f"{err.message}"
                ) from None
            return cached.token
        self._tokens[key] = fresh
        return fresh.token

    def forget_pod(self, uid: str) -> None:
        """Drop the tokens of a pod that is gone (they are revoked with it anyway)."""
        for key in [k for k in self._tokens if k[4] == uid]:
            del self._tokens[key]

    def __len__(self) -> int:
        return len(self._tokens)


def pod_uid(pod: Obj) -> str:
    return str(pod["metadata"]["uid"])
