"""Storage failures become the Status a Kubernetes client expects."""

from __future__ import annotations

import pytest

from pocketkube.api import status as s
from pocketkube.apiserver.errors import from_storage_error
from pocketkube.storage import errors as storage_errors


@pytest.mark.parametrize(
    ("err", "code", "reason", "message"),
    [
        (storage_errors.NotFound("key /pods/d/x not found"), 404, "NotFound", 'pods "x" not found'),
        (storage_errors.AlreadyExists("exists"), 409, "AlreadyExists", 'pods "x" already exists'),
        (
            storage_errors.Conflict("key changed"),
            409,
            "Conflict",
            f'Operation cannot be fulfilled on pods "x": {s.OPTIMISTIC_LOCK_MESSAGE}',
        ),
        (
            storage_errors.PreconditionFailed(
                "Precondition failed: UID in precondition: a, UID in object meta: b"
            ),
            409,
            "Conflict",
            'Operation cannot be fulfilled on pods "x": Precondition failed: UID in '
            "precondition: a, UID in object meta: b",
        ),
        (
            storage_errors.Expired("too old resource version: 1 (5)"),
            410,
            "Expired",
            "too old resource version: 1 (5)",
        ),
        (
            storage_errors.TooLargeResourceVersion("x", requested=9, current=3),
            504,
            "Timeout",
            "Timeout: Too large resource version: 9, current: 3",
        ),
        (storage_errors.Unavailable("locked"), 503, "ServiceUnavailable", "locked"),
        (storage_errors.InvalidRequest("bad continue"), 400, "BadRequest", "bad continue"),
        (
            storage_errors.InvalidObject("not JSON"),
            500,
            "InternalError",
            "Internal error occurred: not JSON",
        ),
        (
            storage_errors.StorageError("other"),
            500,
            "InternalError",
            "Internal error occurred: other",
        ),
    ],
)
def test_from_storage_error(
    err: storage_errors.StorageError, code: int, reason: str, message: str
) -> None:
    status = from_storage_error(err, resource="pods", name="x")
    assert (status["code"], status["reason"], status["message"]) == (code, reason, message)


def test_from_storage_error_group_and_retry_after() -> None:
    status = from_storage_error(
        storage_errors.NotFound("gone"), resource="deployments", name="web", group="apps"
    )
    assert status["message"] == 'deployments.apps "web" not found'
    status = from_storage_error(
        storage_errors.Unavailable("busy", retry_after_seconds=3), resource="pods"
    )
    assert status["details"] == {"retryAfterSeconds": 3}
