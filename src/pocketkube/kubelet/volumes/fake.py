"""An in-memory ``VolumeSource`` for unit tests of volumes, environments and the kubelet.

ConfigMaps and Secrets are added as API objects (``add_secret`` takes plain values and encodes
them as the API does); tokens are made up, numbered, and expire ``expiration_seconds`` after
``now()``. ``fail`` makes the next reads of a name fail with a message (an API outage), and
``calls`` records every request so tests can assert what was (not) read.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from typing import Any

from pocketkube.kubelet.volumes.source import ServiceAccountToken, SourceError, not_found

Obj = dict[str, Any]


class FakeVolumeSource:
    def __init__(self, *, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self.configmaps: dict[tuple[str, str], Obj] = {}
        self.secrets: dict[tuple[str, str], Obj] = {}
        self.service_accounts: set[tuple[str, str]] = {("default", "default")}
        self.failures: dict[tuple[str, str], str] = {}  # (kind, name) -> message
        self.calls: list[tuple[str, ...]] = []
        self.tokens_issued = 0

    def add_configmap(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, str] | None = None,
        binary_data: Mapping[str, bytes] | None = None,
    ) -> Obj:
        obj: Obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"namespace": namespace, "name": name},
            "data": dict(data or {}),
        }
        if binary_data:
            obj["binaryData"] = {k: base64.b64encode(v).decode() for k, v in binary_data.items()}
        self.configmaps[(namespace, name)] = obj
        return obj

    def add_secret(self, namespace: str, name: str, data: Mapping[str, str | bytes]) -> Obj:
        encoded = {
            k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
            for k, v in data.items()
        }
        obj: Obj = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"namespace": namespace, "name": name},
            "data": encoded,
        }
        self.secrets[(namespace, name)] = obj
        return obj

    def fail(self, kind: str, name: str, message: str) -> None:
        """Reads of ``kind`` ("configmap", "secret", "token") ``name`` raise ``message``."""
        self.failures[(kind, name)] = message

    def heal(self, kind: str, name: str) -> None:
        self.failures.pop((kind, name), None)

    def _check(self, kind: str, name: str) -> None:
        if (kind, name) in self.failures:
            raise SourceError(self.failures[(kind, name)])

    async def get_configmap(self, namespace: str, name: str) -> Obj:
        self.calls.append(("configmap", namespace, name))
        self._check("configmap", name)
        if (namespace, name) not in self.configmaps:
            raise not_found("configmap", name)
        return self.configmaps[(namespace, name)]

    async def get_secret(self, namespace: str, name: str) -> Obj:
        self.calls.append(("secret", namespace, name))
        self._check("secret", name)
        if (namespace, name) not in self.secrets:
            raise not_found("secret", name)
        return self.secrets[(namespace, name)]

    async def request_token(
        self,
        namespace: str,
        service_account: str,
        audience: str,
        expiration_seconds: int,
        pod: Obj,
    ) -> ServiceAccountToken:
        self.calls.append(("token", namespace, service_account, audience))
        self._check("token", service_account)
        if (namespace, service_account) not in self.service_accounts:
            raise SourceError(f'serviceaccounts "{service_account}" not found')
        self.tokens_issued += 1
        token = f"token-{self.tokens_issued}-{service_account}-{pod['metadata']['uid']}"
        if audience:
            token += f"-{audience}"
        return ServiceAccountToken(token=token, expires_at=self._now() + expiration_seconds)
