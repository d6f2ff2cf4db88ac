"""Who may call the kubelet: client certificates, then ``AlwaysAllow`` or ``Webhook``.

As upstream's kubelet (``pkg/kubelet/server/auth.go``): a request without a certificate signed
by ``--client-ca-file`` is anonymous and gets 401 ``Unauthorized`` (anonymous auth is off, as
kubeadm configures it); the user is the certificate's CN and its groups the O's. ``Webhook``
asks the API server with a SubjectAccessReview whether the user may ``<verb>`` ``nodes/<sub>``
of this node, the subresource chosen by path (``/stats`` → stats, ``/metrics`` → metrics,
``/logs`` → log, ``/spec`` → spec, anything else → proxy) and the verb by method; answers are
cached (5 min allowed, 30 s denied, as the kubelet's defaults).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

ALWAYS_ALLOW = "AlwaysAllow"
WEBHOOK = "Webhook"
MODES = (ALWAYS_ALLOW, WEBHOOK)
ALLOWED_TTL, DENIED_TTL = 300.0, 30.0
_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Attributes:
    verb: str
    subresource: str
    name: str  # the node


def user_of(peercert: Mapping[str, object] | None) -> User | None:
    """CN and O's of a verified client certificate; None when there is none."""
    name: str | None = None
    groups: list[str] = []
    subject = peercert.get("subject", ()) if peercert else ()
    for rdn in subject if isinstance(subject, tuple) else ():
        for attribute in rdn:
            match attribute:
                case ("commonName", str(value)) if name is None:
                    name = value
                case ("organizationName", str(value)):
                    groups.append(value)
    return User(name, tuple(groups)) if name else None


def attributes_for(method: str, path: str, node_name: str) -> Attributes:
    """Upstream's ``GetRequestAttributes``: the subresource by the path's first segment."""
    verb = _VERBS.get(method.upper(), "delete" if method.upper() == "DELETE" else "get")
    first = path.strip("/").split("/", 1)[0]
    subresource = {"stats": "stats", "metrics": "metrics", "logs": "log", "spec": "spec"}.get(
        first, "proxy"
    )
    return Attributes(verb=verb, subresource=subresource, name=node_name)


class Authorizer(Protocol):
    async def allowed(self, user: User, attributes: Attributes) -> tuple[bool, str]: ...


class AlwaysAllow:
    async def allowed(self, user: User, attributes: Attributes) -> tuple[bool, str]:
        return True, ""


ReviewSender = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class WebhookAuthorizer:
    """SubjectAccessReviews to the API server, with upstream's cache."""

    def __init__(self, send: ReviewSender, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self._clock = clock
        self._cache: dict[tuple[User, Attributes], tuple[float, bool, str]] = {}

    async def allowed(self, user: User, attributes: Attributes) -> tuple[bool, str]:
        key = (user, attributes)
        now = self._clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user.name,
                "groups": list(user.groups),
                "resourceAttributes": {
                    "verb": attributes.verb,
                    "resource": "nodes",
                    "subresource": attributes.subresource,
                    "name": attributes.name,
                },
            },
        }
        answer = await self._send(review)
        status = answer.get("status") or {}
        allowed = bool(status.get("allowed"))
        reason = str(status.get("reason") or "")
        self._cache[key] = (now + (ALLOWED_TTL if allowed else DENIED_TTL), allowed, reason)
        if len(self._cache) > 1024:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        return allowed, reason


def forbidden_message(user: User, attributes: Attributes) -> str:
    """Upstream's text for a denied request."""
    return (
        f"Forbidden (user={user.name}, verb={attributes.verb}, resource=nodes, "
        f"subresource={attributes.subresource})"
    )


class _ReviewClient(Protocol):
    async def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]: ...


def authorizer_for(mode: str, client: _ReviewClient) -> Authorizer:
    """``--authorization-mode``: AlwaysAllow, or Webhook (SubjectAccessReviews via ``client``)."""
    if mode == ALWAYS_ALLOW:
        return AlwaysAllow()
    if mode == WEBHOOK:
        path = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
        return WebhookAuthorizer(lambda review: client.create(path, review))
    raise ValueError(f"unknown authorization mode {mode!r} (choose one of {', '.join(MODES)})")
