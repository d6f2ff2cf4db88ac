"""``Status`` objects: the body of every kube-apiserver error (and of some successes).

The builders follow ``k8s.io/apimachinery/pkg/api/errors/errors.go`` for codes, reasons and
messages, because clients branch on ``reason`` and ``code`` and kubectl prints
``Error from server (<reason>): <message>``. Field order and omitted empty fields match what the
Go JSON encoder produces (``details`` has no ``group`` for the core group, and so on).

Resources are named as upstream's ``GroupResource.String()``: ``pods``, ``deployments.apps``;
kinds as ``GroupKind.String()``: ``Pod``, ``Deployment.apps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pocketkube.api.validation import FieldError, aggregate

Status = dict[str, Any]

OPTIMISTIC_LOCK_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class StatusError(Exception):
    """An error that carries the Status to send; the API server serialises ``status``."""

    def __init__(self, status: Status) -> None:
        super().__init__(status.get("message", ""))
        self.status = status

    @property
    def code(self) -> int:
        return int(self.status.get("code", 500))

    @property
    def reason(self) -> str:
        return str(self.status.get("reason", ""))


def _qualified(name: str, group: str) -> str:
    return f"{name}.{group}" if group else name


def make_status(
    *,
    code: int,
    reason: str = "",
    message: str = "",
    status: str = "Failure",
    name: str = "",
    group: str = "",
    kind: str = "",
    uid: str = "",
    causes: Sequence[dict[str, str]] = (),
    retry_after_seconds: int = 0,
) -> Status:
    """A Status dict with upstream's field order, leaving out what Go would omit as empty."""
    details: dict[str, Any] = {}
    for key, value in (("name", name), ("group", group), ("kind", kind), ("uid", uid)):
        if value:
            details[key] = value
    if causes:
        details["causes"] = [dict(cause) for cause in causes]
    if retry_after_seconds:
        details["retryAfterSeconds"] = retry_after_seconds
    out: Status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": status}
    if message:
        out["message"] = message
    if reason:
        out["reason"] = reason
    if details:
        out["details"] = details
    if code:
        out["code"] = code
    return out


def cause(*, reason: str = "", message: str = "", field: str = "") -> dict[str, str]:
    out = {}
    for key, value in (("reason", reason), ("message", message), ("field", field)):
        if value:
            out[key] = value
    return out


def success(
    *, name: str = "", kind: str = "", group: str = "", uid: str = "", code: int = 0
) -> Status:
    """``status: Success`` as returned by deletes (kind is the resource, e.g. ``pods``)."""
    return make_status(code=code, status="Success", name=name, group=group, kind=kind, uid=uid)


def not_found(resource: str, name: str, group: str = "") -> Status:
    return make_status(
        code=404,
        reason="NotFound",
        message=f'{_qualified(resource, group)} "{name}" not found',
        name=name,
        group=group,
        kind=resource,
    )


def already_exists(resource: str, name: str, group: str = "") -> Status:
    return make_status(
        code=409,
        reason="AlreadyExists",
        message=f'{_qualified(resource, group)} "{name}" already exists',
        name=name,
        group=group,
        kind=resource,
    )


def conflict(resource: str, name: str, message: str, group: str = "") -> Status:
    return make_status(
        code=409,
        reason="Conflict",
        message=f"Operation cannot be fulfilled on {_qualified(resource, group)} "
        f'"{name}": {message}',
        name=name,
        group=group,
        kind=resource,
    )


def invalid(kind: str, name: str, errors: Sequence[FieldError], group: str = "") -> Status:
    """422: ``Pod "x" is invalid: <error>`` (several errors as ``[a, b]``), one cause each."""
    prefix = f'{_qualified(kind, group)} "{name}" is invalid'
    summary = aggregate(err.message for err in errors)
    causes = [cause(reason=str(err.type), message=err.body, field=err.field) for err in errors]
    return make_status(
        code=422,
        reason="Invalid",
        message=f"{prefix}: {summary}" if summary else prefix,
        name=name,
        group=group,
        kind=kind,
        causes=causes,
    )


def bad_request(message: str) -> Status:
    return make_status(code=400, reason="BadRequest", message=message)


def unauthorized(message: str = "Unauthorized") -> Status:
    return make_status(code=401, reason="Unauthorized", message=message or "not authorized")


def forbidden(
    *,
    user: str,
    verb: str,
    resource: str = "",
    name: str = "",
    namespace: str = "",
    group: str = "",
    subresource: str = "",
    path: str = "",
    reason: str = "",
) -> Status:
    """403 in the authorizer's words: ``pods "x" is forbidden: User "u" cannot get resource
    "pods" in API group "" in the namespace "default"``. Without a resource, ``path`` is the
    non-resource URL that was refused."""
    if not resource:
        detail = f'User "{user}" cannot {verb} path "{path}"'
    else:
        what = f"{resource}/{subresource}" if subresource else resource
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        detail = f'User "{user}" cannot {verb} resource "{what}" in API group "{group}" {where}'
    if reason:
        detail = f"{detail}: {reason}"
    if not resource:
        message = f"forbidden: {detail}"
    elif not name:
        message = f"{_qualified(resource, group)} is forbidden: {detail}"
    else:
        message = f'{_qualified(resource, group)} "{name}" is forbidden: {detail}'
    return make_status(
        code=403, reason="Forbidden", message=message, name=name, group=group, kind=resource
    )


def method_not_supported(resource: str, action: str, group: str = "") -> Status:
    return make_status(
        code=405,
        reason="MethodNotAllowed",
        message=f'{action} is not supported on resources of kind "{_qualified(resource, group)}"',
        group=group,
        kind=resource,
    )


def not_acceptable(accepted: Sequence[str]) -> Status:
    return make_status(
        code=406,
        reason="NotAcceptable",
        message=f"only the following media types are accepted: {', '.join(accepted)}",
    )


def unsupported_media_type(accepted: Sequence[str]) -> Status:
    return make_status(
        code=415,
        reason="UnsupportedMediaType",
        message="the body of the request was in an unknown format - accepted media types "
        f"include: {', '.join(accepted)}",
    )


def request_entity_too_large(message: str) -> Status:
    return make_status(
        code=413,
        reason="RequestEntityTooLarge",
        message=f"Request entity too large: {message}",
    )


def gone(message: str) -> Status:
    return make_status(code=410, reason="Gone", message=message)


def expired(message: str) -> Status:
    """410 with reason Expired: a resourceVersion or continue token older than history."""
    return make_status(code=410, reason="Expired", message=message)


def too_many_requests(
    message: str = "Too many requests, please try again later.", retry_after_seconds: int = 1
) -> Status:
    return make_status(
        code=429,
        reason="TooManyRequests",
        message=message,
        retry_after_seconds=retry_after_seconds,
    )


def service_unavailable(message: str, retry_after_seconds: int = 0) -> Status:
    return make_status(
        code=503,
        reason="ServiceUnavailable",
        message=message,
        retry_after_seconds=retry_after_seconds,
    )


def timeout(message: str, retry_after_seconds: int = 0) -> Status:
    return make_status(
        code=504,
        reason="Timeout",
        message=f"Timeout: {message}",
        retry_after_seconds=retry_after_seconds,
    )


def too_large_resource_version(
    requested: int, current: int, retry_after_seconds: int = 1
) -> Status:
    """504 for a read at a resourceVersion the store has not reached (storage/errors.go)."""
    return make_status(
        code=504,
        reason="Timeout",
        message=f"Timeout: Too large resource version: {requested}, current: {current}",
        causes=[cause(reason="ResourceVersionTooLarge", message="Too large resource version")],
        retry_after_seconds=retry_after_seconds,
    )


def server_timeout(
    resource: str, operation: str, retry_after_seconds: int, group: str = ""
) -> Status:
    return make_status(
        code=500,
        reason="ServerTimeout",
        message=f"The {operation} operation against {_qualified(resource, group)} could not be "
        "completed at this time, please try again.",
        name=operation,
        group=group,
        kind=resource,
        retry_after_seconds=retry_after_seconds,
    )


def internal_error(message: str) -> Status:
    return make_status(
        code=500,
        reason="InternalError",
        message=f"Internal error occurred: {message}",
        causes=[cause(message=message)],
    )
