"""What a request asks for, read off its URL: kube-apiserver's ``RequestInfoFactory``.

``/api/v1/namespaces/default/pods/web/log`` is the ``get`` verb on the ``log`` subresource of pod
``web`` in namespace ``default`` of the core group; ``/apis/apps/v1/deployments?watch=1`` is a
``watch`` of deployments in every namespace. Paths that are not resources (``/version``,
``/healthz``, discovery) have ``is_resource_request`` False.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class RequestInfo:
    is_resource_request: bool
    path: str
    verb: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""


REQUEST_INFO = web.RequestKey("request_info", RequestInfo)


def request_info(request: web.Request) -> RequestInfo:
    """The request's RequestInfo, read once per request (the metrics middleware and the handler
    both want it)."""
    info = request.get(REQUEST_INFO)
    if info is None or info.path != request.path:
        watch = request.query.get("watch", "")
        info = parse_request_info(request.method, request.path, {"watch": watch})
        request[REQUEST_INFO] = info
    return info


def parse_request_info(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    stripped = path.strip("/")
    parts = stripped.split("/") if stripped else []
    if "%" in stripped:
        parts = [unquote(p) for p in parts]
    if not parts or parts[0] not in ("api", "apis"):
        return RequestInfo(False, path, verb=method.lower())
    if parts[0] == "api":
        if len(parts) < 2:
            return RequestInfo(False, path, verb=method.lower())
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 3:
            return RequestInfo(False, path, verb=method.lower())
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return RequestInfo(False, path, verb=method.lower())

    namespace = ""
    # /namespaces/{ns}/{resource}... addresses a namespaced resource; /namespaces/{ns} alone (or
    # with a subresource such as status or finalize) is the namespace object itself.
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
        if rest[0] in ("status", "finalize") and len(rest) == 1:
            rest = ["namespaces", namespace, rest[0]]
            namespace = ""
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if len(rest) > 3 and subresource != "proxy":
        return RequestInfo(False, path, verb=method.lower())
    if resource == "namespaces" and name and not subresource:
        namespace = name

    verb = _METHOD_VERBS.get(method, method.lower())
    if method in ("GET", "HEAD"):
        watching = query.get("watch", "") in ("1", "true")
        verb = "watch" if watching else ("get" if name else "list")
    elif method == "DELETE" and not name:
        verb = "deletecollection"
    return RequestInfo(
        True,
        path,
        verb=verb,
        group=group,
        version=version,
        namespace=namespace,
        resource=resource,
        name=name,
        subresource=subresource,
    )
