"""``pods/<name>/log``, ``exec``, ``attach`` and ``portforward``: checked here, served by the
pod's kubelet.

As upstream's ``LogREST``, ``ExecREST``, ``AttachREST`` and ``PortForwardREST``
(pkg/registry/core/pod/rest, ``LogLocation`` and ``streamLocation`` in strategy.go): the options
come from the query (``PodLogOptions``, ``PodExecOptions``, ``PodAttachOptions``,
``PodPortForwardOptions``), the container is checked against the pod (the only container when
none is named), and the request goes to the kubelet of the pod's node — ``/containerLogs``,
``/exec``, ``/attach`` or ``/portForward`` with the kubelet's query parameters — through
:mod:`pocketkube.client.upgradeproxy`, so WebSocket and SPDY upgrades pass byte for byte.
A pod not yet on a node has an empty log and cannot be exec'd into (400).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from pocketkube.api import status, validation
from pocketkube.api.status import StatusError
from pocketkube.apiserver import extensions
from pocketkube.apiserver.extensions import SpecialRequest
from pocketkube.apiserver.kubeletclient import KUBELET_CLIENT
from pocketkube.apiserver.resources import Resource
from pocketkube.apiserver.resources_builtin import BUILTIN_RESOURCES
from pocketkube.client.upgradeproxy import ProxyError, ResponseChecker, proxy

NODES: Resource = next(r for r in BUILTIN_RESOURCES if r.gvr == ("", "v1", "nodes"))
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _bool(query: MultiMapping[str], name: str) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return False
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise StatusError(status.bad_request(f'strconv.ParseBool: parsing "{value}": invalid syntax'))


def _int(query: MultiMapping[str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise StatusError(
            status.bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax')
        ) from None


def container_names(pod: Mapping[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    return [
        c.get("name", "")
        for kind in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(kind) or []
    ]


def validate_container(container: str, pod: Mapping[str, Any]) -> str:
    """Upstream's ``validateContainer``: the named container, or the only one."""
    name = (pod.get("metadata") or {}).get("name", "")
    if not container:
        containers = (pod.get("spec") or {}).get("containers") or []
        if len(containers) == 1:
            return str(containers[0].get("name", ""))
        if not containers:
            raise StatusError(status.bad_request(f"pod {name} does not have a container"))
        choices = "[" + " ".join(container_names(pod)) + "]"
        raise StatusError(
            status.bad_request(
                f"a container name must be specified for pod {name}, choose one of: {choices}"
            )
        )
    if container not in container_names(pod):
        raise StatusError(status.bad_request(f"container {container} is not valid for pod {name}"))
    return container


def _log_query(name: str, query: MultiMapping[str]) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    errors: list[validation.FieldError] = []
    for flag in ("follow", "previous", "timestamps"):
        if _bool(query, flag):
            params.append((flag, "true"))
    tail, limit, since = (
        _int(query, "tailLines"),
        _int(query, "limitBytes"),
        _int(query, "sinceSeconds"),
    )
    since_time = query.get("sinceTime", "")
    if tail is not None:
        if tail < 0:
            errors.append(
                validation.invalid("tailLines", tail, "must be greater than or equal to 0")
            )
        params.append(("tailLines", str(tail)))
    if limit is not None:
        if limit < 1:
            errors.append(validation.invalid("limitBytes", limit, "must be greater than 0"))
        params.append(("limitBytes", str(limit)))
    if since is not None:
        if since < 1:
            errors.append(validation.invalid("sinceSeconds", since, "must be greater than 0"))
        params.append(("sinceSeconds", str(since)))
    if since_time:
        try:
            datetime.datetime.fromisoformat(since_time.replace("Z", "+00:00"))
        except ValueError:
            raise StatusError(
                status.bad_request(
                    f'parsing time "{since_time}" as "2006-01-02T15:04:05Z07:00": cannot parse'
                )
            ) from None
        if since is not None:
            errors.append(
                validation.forbidden(
                    "", "at most one of `sinceTime` or `sinceSeconds` may be specified"
                )
            )
        params.append(("sinceTime", since_time))
    if errors:
        raise StatusError(status.invalid("PodLogOptions", name, errors))
    return params


async def _pod_and_node(special: SpecialRequest) -> tuple[dict[str, Any], dict[str, Any] | None]:
    assert special.registry is not None
    info = special.info
    pod = await special.registry.get(info.namespace, info.name)
    node_name = (pod.get("spec") or {}).get("nodeName", "")
    if not node_name:
        return pod, None
    nodes = special.registry_for(NODES)
    assert nodes is not None
    return pod, await nodes.get("", node_name)


def log_error(code: int, body: bytes) -> Exception:
    """Upstream's ``GenericHttpResponseChecker`` for ``pods/log``: the kubelet's text becomes
    the Status message (``kubectl logs`` prints it)."""
    text = body.decode(errors="replace")
    if code == 400:
        return StatusError(status.bad_request(text))
    if code == 500:
        return StatusError(status.internal_error(text))
    reason = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}.get(code, "")
    return StatusError(status.make_status(code=code, reason=reason, message=text))


async def _to_kubelet(
    special: SpecialRequest,
    node: Mapping[str, Any],
    path: str,
    query: Sequence[tuple[str, str]],
    *,
    check: ResponseChecker | None = None,
) -> web.StreamResponse:
    client = special.request.app[KUBELET_CLIENT]
    url = client.url(node, path, query)
    try:
        return await proxy(
            special.request,
            url,
            session=client.session,
            ssl_context=client.ssl_context,
            check=check,
        )
    except ProxyError as err:
        raise StatusError(status.internal_error(str(err))) from None


async def pod_log(special: SpecialRequest) -> web.StreamResponse:
    if special.request.method not in ("GET", "HEAD"):
        raise StatusError(status.method_not_supported("pods/log", special.info.verb))
    query = special.request.query
    params = _log_query(special.info.name, query)
    pod, node = await _pod_and_node(special)
    container = validate_container(query.get("container", ""), pod)
    if node is None:  # not scheduled yet: an empty log, as upstream's nil location
        return web.Response(status=200, content_type="text/plain", body=b"")
    meta = pod["metadata"]
    path = f"/containerLogs/{meta['namespace']}/{meta['name']}/{container}"
    return await _to_kubelet(special, node, path, params, check=log_error)


def _no_host(pod: Mapping[str, Any]) -> StatusError:
    name = (pod.get("metadata") or {}).get("name", "")
    return StatusError(status.bad_request(f"pod {name} does not have a host assigned"))


async def _stream(special: SpecialRequest, kind: str) -> web.StreamResponse:
    if special.request.method not in ("GET", "POST"):
        raise StatusError(status.method_not_supported(f"pods/{kind}", special.info.verb))
    query = special.request.query
    params: list[tuple[str, str]] = []
    if kind == "exec":
        params += [("command", c) for c in query.getall("command", [])]
    for option, kubelet_name in (
        ("stdin", "input"),
        ("stdout", "output"),
        ("stderr", "error"),
        ("tty", "tty"),
    ):
        if _bool(query, option):
            params.append((kubelet_name, "1"))
    pod, node = await _pod_and_node(special)
    container = validate_container(query.get("container", ""), pod)
    if node is None:
        raise _no_host(pod)
    meta = pod["metadata"]
    path = f"/{kind}/{meta['namespace']}/{meta['name']}/{container}"
    return await _to_kubelet(special, node, path, params)


async def pod_exec(special: SpecialRequest) -> web.StreamResponse:
    return await _stream(special, "exec")


async def pod_attach(special: SpecialRequest) -> web.StreamResponse:
    return await _stream(special, "attach")


async def pod_portforward(special: SpecialRequest) -> web.StreamResponse:
    if special.request.method not in ("GET", "POST"):
        raise StatusError(status.method_not_supported("pods/portforward", special.info.verb))
    query = special.request.query
    ports: list[tuple[str, str]] = []
    for value in query.getall("ports", []):
        for port in value.split(","):
            if port:
                ports.append(("port", port))
    pod, node = await _pod_and_node(special)
    if node is None:
        raise _no_host(pod)
    meta = pod["metadata"]
    path = f"/portForward/{meta['namespace']}/{meta['name']}"
    return await _to_kubelet(special, node, path, ports)


def install() -> None:
    extensions.SUBRESOURCES["log"] = pod_log
    extensions.SUBRESOURCES["exec"] = pod_exec
    extensions.SUBRESOURCES["attach"] = pod_attach
    extensions.SUBRESOURCES["portforward"] = pod_portforward


install()
