"""Where volumes and environment variables get ConfigMaps, Secrets and service-account tokens.

The kubelet reads these objects from the API server when it mounts a pod's volumes and when it
creates a container, so the contents a container sees are those of that moment (upstream's
configmap/secret managers and token manager serve the same purpose from caches). Volume plugins
and ``make_environment`` take a ``VolumeSource`` rather than a client so that unit tests use the
in-memory ``FakeVolumeSource`` (fake.py) and only ``ClientVolumeSource`` knows REST paths.

Errors carry the message upstream's kubelet shows: a missing object is ``NotFoundError`` with
``configmap "x" not found`` / ``secret "x" not found`` (the singular resource name of upstream's
watch-based managers), anything else ``SourceError`` with the API server's message.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pocketkube.client.resources import CONFIGMAPS, SECRETS, SERVICE_ACCOUNTS
from pocketkube.client.rest import ApiError, Obj, Params


class SourceError(Exception):
    """An object could not be read; ``message`` is what the user is shown."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(SourceError):
    """The object does not exist (``optional`` references tolerate this one)."""


def not_found(kind: str, name: str) -> NotFoundError:
    """``kind`` is upstream's singular resource: "configmap", "secret"."""
    return NotFoundError(f'{kind} "{name}" not found')


@dataclass(frozen=True)
class ServiceAccountToken:
    token: str
    expires_at: float  # seconds since the epoch


class VolumeSource(Protocol):
    async def get_configmap(self, namespace: str, name: str) -> Obj: ...

    async def get_secret(self, namespace: str, name: str) -> Obj: ...

    async def request_token(
        self,
        namespace: str,
        service_account: str,
        audience: str,
        expiration_seconds: int,
        pod: Obj,
    ) -> ServiceAccountToken:
        """A token of ``service_account`` bound to ``pod`` (deleting the pod revokes it);
        ``audience`` "" means the API server's own audiences."""
        ...


def configmap_data(configmap: Obj) -> dict[str, bytes]:
    """A ConfigMap's ``data`` and (base64-decoded) ``binaryData``, as a volume writes them."""
    files = {key: str(value).encode() for key, value in (configmap.get("data") or {}).items()}
    for key, value in (configmap.get("binaryData") or {}).items():
        files[key] = _b64(value, configmap)
    return files


def secret_data(secret: Obj) -> dict[str, bytes]:
    """A Secret's ``data``, base64-decoded (``stringData`` never comes back from the API)."""
    return {key: _b64(value, secret) for key, value in (secret.get("data") or {}).items()}


def _b64(value: object, obj: Obj) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as err:
        meta = obj.get("metadata") or {}
        raise SourceError(
            f"illegal base64 data in {meta.get('namespace')}/{meta.get('name')}: {err}"
        ) from None


class _RestClient(Protocol):
    async def get(self, path: str, *, params: Params | None = None) -> Obj: ...
    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj: ...


class ClientVolumeSource:
    """The API server, through the kubelet's client (GET configmaps/secrets, POST
    serviceaccounts/<name>/token)."""

    def __init__(self, client: _RestClient) -> None:
        self._client = client

    async def get_configmap(self, namespace: str, name: str) -> Obj:
        return await self._get(CONFIGMAPS.path(namespace=namespace, name=name), "configmap", name)

    async def get_secret(self, namespace: str, name: str) -> Obj:
        return await self._get(SECRETS.path(namespace=namespace, name=name), "secret", name)

    async def _get(self, path: str, kind: str, name: str) -> Obj:
        try:
            return await self._client.get(path)
        except ApiError as err:
            if err.not_found:
                raise not_found(kind, name) from None
            raise SourceError(err.message or str(err)) from None

    async def request_token(
        self,
        namespace: str,
        service_account: str,
        audience: str,
        expiration_seconds: int,
        pod: Obj,
    ) -> ServiceAccountToken:
        meta = pod["metadata"]
        spec: dict[str, Any] = {
            "expirationSeconds": expiration_seconds,
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "uid": meta["uid"],
            },
        }
        if audience:
            spec["audiences"] = [audience]
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        path = SERVICE_ACCOUNTS.path(namespace=namespace, name=service_account, subresource="token")
        try:
            answer = await self._client.create(path, request)
        except ApiError as err:
            raise SourceError(err.message or str(err)) from None
        status = answer.get("status") or {}
        try:
            expires = datetime.fromisoformat(str(status["expirationTimestamp"])).timestamp()
            return ServiceAccountToken(token=str(status["token"]), expires_at=expires)
        except (KeyError, ValueError):
            raise SourceError("the API server answered a TokenRequest without a token") from None
