"""projected volumes: several sources (Secrets, ConfigMaps, downwardAPI, service-account
tokens) in one directory.

This is how every pod gets its API credentials: the ServiceAccount admission plugin adds a
``kube-api-access-*`` projected volume with a ``serviceAccountToken`` (a TokenRequest bound to
the pod, for ``audience`` and ``expirationSeconds``, renewed by the ``TokenManager`` before it
expires), the ``kube-root-ca.crt`` ConfigMap and the namespace. Each source is collected as its
own volume plugin would; failures of all sources are aggregated (upstream's ``[a, b]``), and
later sources win when paths collide. The token file gets ``defaultMode``; upstream narrows it to
0600 when an fsGroup is set, and fsGroup is ignored here (files belong to the kubelet's user).
"""

from __future__ import annotations

from pathlib import Path

from pocketkube.kubelet.volumes import configmap, downwardapi, secret
from pocketkube.kubelet.volumes.atomicwriter import FileProjection
from pocketkube.kubelet.volumes.plugin import (
    Obj,
    Payload,
    Plugin,
    PodContext,
    SetUpError,
    aggregate,
    mode_of,
    write_payload,
)
from pocketkube.kubelet.volumes.source import SourceError

DEFAULT_TOKEN_SECONDS = 3600  # the API's default for serviceAccountToken.expirationSeconds


async def _token(projection: Obj, context: PodContext, mode: int) -> Payload:
    pod = context.pod
    account = str(pod.get("spec", {}).get("serviceAccountName") or "default")
    try:
        token = await context.tokens.get(
            context.namespace,
            account,
            str(projection.get("audience") or ""),
            int(projection.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS),
            pod,
        )
    except SourceError as err:
        raise SetUpError(err.message) from None
    return {str(projection.get("path", "token")): FileProjection(token.encode(), mode)}


async def payload(source: Obj, context: PodContext) -> Payload:
    mode = mode_of(source)
    files: Payload = {}
    errors: list[str] = []
    for projection in source.get("sources") or []:
        try:
            if projection.get("secret"):
                ref = projection["secret"]
                files |= await secret.payload(ref, context, mode, name=str(ref.get("name", "")))
            elif projection.get("configMap"):
                files |= await configmap.payload(projection["configMap"], context, mode)
            elif projection.get("downwardAPI"):
                items = projection["downwardAPI"].get("items")
                files |= downwardapi.payload(items, context.pod, context.node_allocatable, mode)
            elif projection.get("serviceAccountToken"):
                files |= await _token(projection["serviceAccountToken"], context, mode)
        except SetUpError as err:
            errors.append(err.message)
    if errors:
        raise SetUpError(aggregate(errors))
    return files


async def set_up(source: Obj, directory: Path, context: PodContext) -> str:
    return await write_payload(directory, await payload(source, context), dir_mode=0o1777)


PLUGIN = Plugin(
    name="kubernetes.io~projected", source_field="projected", read_only=True, set_up=set_up
)
