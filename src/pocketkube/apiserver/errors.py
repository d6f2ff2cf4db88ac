"""Turning failures into the Status responses clients expect.

A handler raises :class:`~pocketkube.api.status.StatusError`; storage failures are translated
here; anything else is a bug of ours and becomes a 500 Status whose message names no internals
(the traceback goes to the log, never to the client).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from pocketkube.api import status
from pocketkube.api.status import Status, StatusError
from pocketkube.storage import errors as storage_errors
from pocketkube.storage.errors import StorageError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def from_storage_error(
    err: storage_errors.StorageError,
    *,
    resource: str,
    name: str = "",
    group: str = "",
    kind: str = "",
) -> status.Status:
    """The Status for a storage failure on ``resource``/``name`` (as InterpretGetError,
    InterpretUpdateError and friends do in k8s.io/apiserver/pkg/storage/errors)."""
    del kind  # accepted for callers' convenience; upstream names these objects by resource
    if isinstance(err, storage_errors.NotFound):
        return status.not_found(resource, name, group)
    if isinstance(err, storage_errors.AlreadyExists):
        return status.already_exists(resource, name, group)
    if isinstance(err, storage_errors.PreconditionFailed):
        return status.conflict(resource, name, err.message, group)
    if isinstance(err, storage_errors.Conflict):
        return status.conflict(resource, name, status.OPTIMISTIC_LOCK_MESSAGE, group)
    if isinstance(err, storage_errors.Expired):
        return status.expired(err.message)
    if isinstance(err, storage_errors.TooLargeResourceVersion):
        return status.too_large_resource_version(err.requested, err.current)
    if isinstance(err, storage_errors.Unavailable):
        return status.service_unavailable(err.message, err.retry_after_seconds)
    if isinstance(err, storage_errors.InvalidRequest):
        return status.bad_request(err.message)
    return status.internal_error(err.message)


def status_error_from_storage(
    err: StorageError, *, resource: str, name: str = "", group: str = ""
) -> StatusError:
    return StatusError(from_storage_error(err, resource=resource, name=name, group=group))


def status_response(body: Status) -> web.Response:
    headers = {}
    retry = body.get("details", {}).get("retryAfterSeconds")
    if retry:
        headers["Retry-After"] = str(retry)
    return web.Response(
        status=int(body.get("code", 500)),
        body=orjson.dumps(body),
        content_type="application/json",
        headers=headers,
    )


@web.middleware
async def status_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except StatusError as err:
        return status_response(err.status)
    except StorageError as err:  # a handler forgot to translate: still a typed answer
        return status_response(from_storage_error(err, resource=""))
    except web.HTTPException as err:
        if err.status == 404:
            return status_response(
                status.make_status(
                    code=404,
                    reason="NotFound",
                    message="the server could not find the requested resource",
                )
            )
        if err.status == 405:
            return status_response(
                status.make_status(
                    code=405,
                    reason="MethodNotAllowed",
                    message="the server does not allow this method on the requested resource",
                )
            )
        raise
    except Exception:
        log.exception("internal error serving %s %s", request.method, request.path)
        return status_response(status.internal_error("an unexpected error occurred"))
