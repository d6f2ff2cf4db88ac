"""Typed storage errors, so the API server can map each one onto the right HTTP status.

They mirror ``k8s.io/apiserver/pkg/storage/errors.go``: NotFound → 404, AlreadyExists and
Conflict → 409, Expired (a compacted or otherwise too-old revision) → 410, TooLargeResourceVersion
→ 504 with a Retry-After, Unavailable (the datastore cannot serve now) → 503/429 with Retry-After.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pocketkube.storage.backend import KeyValue


class StorageError(Exception):
    """Base class of every error the storage layer raises on purpose."""

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class NotFound(StorageError):
    """The key does not exist (or a precondition named a revision that is gone)."""


class AlreadyExists(StorageError):
    """Create found the key already present."""


class Conflict(StorageError):
    """The key changed since the revision the caller expected.

    ``current`` carries the key's present value when the backend knows it, so that
    guaranteed_update can retry without reading again (as etcd's failed transaction returns it).
    """

    def __init__(self, message: str, *, key: str = "", current: KeyValue | None = None) -> None:
        super().__init__(message, key=key)
        self.current = current


class PreconditionFailed(Conflict):
    """A uid or resourceVersion precondition did not hold (409 in Kubernetes)."""


class Expired(StorageError):
    """The requested revision has been compacted away (HTTP 410 Gone, reason Expired)."""

    def __init__(self, message: str, *, key: str = "", compacted_revision: int = 0) -> None:
        super().__init__(message, key=key)
        self.compacted_revision = compacted_revision


class TooLargeResourceVersion(StorageError):
    """The requested revision is newer than the store has reached within the wait allowed."""

    def __init__(self, message: str, *, requested: int, current: int) -> None:
        super().__init__(message)
        self.requested = requested
        self.current = current


class Unavailable(StorageError):
    """The datastore cannot answer now (locked, unreachable, disk full); retrying later may work."""

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class InvalidObject(StorageError):
    """A stored value could not be decoded, or an object to store could not be encoded."""


class InvalidRequest(StorageError):
    """The caller asked for something malformed: a bad continue token, resourceVersion or
    match combination (HTTP 400 BadRequest)."""
