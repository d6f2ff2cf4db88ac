"""ServiceAccount: every new pod runs as a service account, ``default`` unless it names one.

As upstream's plugin, on pod create: the pod's ``serviceAccountName`` defaults to ``default``
(``serviceAccount``, its deprecated alias, is read as upstream's v1 conversion reads it), the
account's ``imagePullSecrets`` become the pod's when it has none, and an account annotated
``kubernetes.io/enforce-mountable-secrets: "true"`` limits the secrets the pod may use to those it
lists. Mirror pods (the kubelet's copies of static pods) may reference neither an account nor a
secret, and are not changed.

Not yet, because what they rely on does not exist yet: refusing a pod whose account does not
exist (no controller creates each namespace's ``default`` account), and mounting the account's
token (the kubelet will project it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pocketkube.apiserver.admission.interface import (
    PODS,
    SERVICE_ACCOUNTS,
    Attributes,
    ObjectReader,
    Operation,
    forbidden,
)
from pocketkube.storage.interface import Obj

NAME = "ServiceAccount"
DEFAULT_SERVICE_ACCOUNT = "default"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
ENFORCE_MOUNTABLE_SECRETS = "kubernetes.io/enforce-mountable-secrets"
TRUE_VALUES = ("1", "t", "T", "TRUE", "true", "True")  # Go's strconv.ParseBool


def _names(refs: Any) -> list[str]:
    return [str(r["name"]) for r in refs or [] if isinstance(r, dict) and r.get("name")]


def _is_mirror_pod(pod: Obj) -> bool:
    meta = pod.get("metadata")
    return isinstance(meta, dict) and MIRROR_POD_ANNOTATION in (meta.get("annotations") or {})


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, label in (
        ("initContainers", "init container"),
        ("containers", "container"),
        ("ephemeralContainers", "ephemeral container"),
    ):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                yield label, container


def _volume_secret_names(volume: Any) -> Iterator[str]:
    """Secrets a volume names: secret and azureFile volumes, projected secrets, and the
    ``secretRef`` / ``nodePublishSecretRef`` of the volume plugins that log in somewhere."""
    if not isinstance(volume, dict):
        return
    for source in volume.values():
        if not isinstance(source, dict):
            continue
        if source.get("secretName"):
            yield str(source["secretName"])
        for ref in ("secretRef", "nodePublishSecretRef"):
            yield from _names([source.get(ref)])
        for projection in source.get("sources") or []:
            if isinstance(projection, dict):
                yield from _names([projection.get("secret")])


def referenced_secrets(spec: dict[str, Any]) -> list[str]:
    """Every secret name the pod spec references (upstream's VisitPodSecretNames)."""
    found = _names(spec.get("imagePullSecrets"))
    for _, container in _containers(spec):
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") if isinstance(env, dict) else None
            if isinstance(value_from, dict):
                found += _names([value_from.get("secretKeyRef")])
        for source in container.get("envFrom") or []:
            if isinstance(source, dict):
                found += _names([source.get("secretRef")])
    for volume in spec.get("volumes") or []:
        found += _volume_secret_names(volume)
    return found


def _unmountable_secret(spec: dict[str, Any], account: Obj) -> str:
    """Why the pod may not use one of its secrets under ``account``, or ""."""
    allowed, pulls = (
        set(_names(account.get("secrets"))),
        set(_names(account.get("imagePullSecrets"))),
    )
    who = f"service account {account['metadata'].get('name', '')} does not reference that"
    for volume in spec.get("volumes") or []:
        secret = volume.get("secret") if isinstance(volume, dict) else None
        name = secret.get("secretName") if isinstance(secret, dict) else None
        if name and name not in allowed:
            return f'volume with secret.secretName="{name}" is not allowed because {who} secret'
    for label, container in _containers(spec):
        if label == "ephemeral container":
            continue  # ephemeral containers are added later, through their own subresource
        for env in container.get("env") or []:
            ref = (
                (env.get("valueFrom") or {}).get("secretKeyRef") if isinstance(env, dict) else None
            )
            if isinstance(ref, dict) and ref.get("name") not in allowed:
                return (
                    f"{label} {container.get('name')} with envVar {env.get('name')} referencing "
                    f'secret.secretName="{ref.get("name")}" is not allowed because {who} secret'
                )
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef") if isinstance(source, dict) else None
            if isinstance(ref, dict) and ref.get("name") not in allowed:
                return (
                    f"{label} {container.get('name')} with envFrom referencing "
                    f'secret.secretName="{ref.get("name")}" is not allowed because {who} secret'
                )
    for i, name in enumerate(_names(spec.get("imagePullSecrets"))):
        if name not in pulls:
            return (
                f'imagePullSecrets[{i}].name="{name}" is not allowed because {who} imagePullSecret'
            )
    return ""


class ServiceAccount:
    name = NAME

    def __init__(self, reader: ObjectReader) -> None:
        self._reader = reader

    async def _account(self, namespace: str, name: str) -> Obj | None:
        # The cache's word is enough: until a controller creates each namespace's default
        # account, most pods' account does not exist, and a miss is no reason to refuse.
        return await self._reader.get(SERVICE_ACCOUNTS, namespace, name, live=False)

    def _applies(self, attrs: Attributes) -> dict[str, Any] | None:
        """The pod spec, when this is a pod create the plugin looks at."""
        if attrs.operation is not Operation.CREATE or not attrs.is_resource(PODS):
            return None
        return attrs.spec()

    async def admit(self, attrs: Attributes) -> None:
        spec = self._applies(attrs)
        if spec is None or _is_mirror_pod(attrs.obj):
            return
        name = spec.get("serviceAccountName") or spec.get("serviceAccount") or ""
        spec["serviceAccountName"] = str(name) or DEFAULT_SERVICE_ACCOUNT
        account = await self._account(attrs.namespace, spec["serviceAccountName"])
        if account is not None and not spec.get("imagePullSecrets"):
            pulls = _names(account.get("imagePullSecrets"))
            if pulls:
                spec["imagePullSecrets"] = [{"name": n} for n in pulls]

    async def validate(self, attrs: Attributes) -> None:
        spec = self._applies(attrs)
        if spec is None:
            return
        if _is_mirror_pod(attrs.obj):
            if spec.get("serviceAccountName") or spec.get("serviceAccount"):
                raise forbidden(attrs, "a mirror pod may not reference service accounts")
            if referenced_secrets(spec):
                raise forbidden(attrs, "a mirror pod may not reference secrets")
            return
        name = spec.get("serviceAccountName")
        if not name:
            pod_name = (attrs.obj.get("metadata") or {}).get("name", "")
            raise forbidden(
                attrs, f"no service account specified for pod {attrs.namespace}/{pod_name}"
            )
        account = await self._account(attrs.namespace, str(name))
        annotations = ((account or {}).get("metadata") or {}).get("annotations") or {}
        if account is not None and annotations.get(ENFORCE_MOUNTABLE_SECRETS) in TRUE_VALUES:
            why = _unmountable_secret(spec, account)
            if why:
                raise forbidden(attrs, why)


def new(reader: ObjectReader) -> ServiceAccount:
    return ServiceAccount(reader)
