"""Fakes for unit tests of the node side: an in-memory API, a recorder, a runtime's status.

``FakeApi`` keeps objects by path and answers like the API server where the node code cares:
``AlreadyExists`` and ``NotFound``, ``resourceVersion`` conflicts on update, uids, merge and
strategic merge patches (with the real Node patch schema), and a ``/status`` subresource that
changes status only. Each request is logged in ``calls``, and ``fail`` queues errors for the next
requests of a method, to test retries and back-off.
"""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from dataclasses import dataclass, field

from pocketkube.api.patch import apply_merge_patch, apply_strategic_merge_patch, schema_for_kind
from pocketkube.client.rest import ApiError
from pocketkube.kubelet.node.protocols import EventType, Obj, PatchType
from pocketkube.runtime import cri


def _error(status: int, reason: str, message: str) -> ApiError:
    return ApiError(status, reason, message, {"kind": "Status", "code": status, "reason": reason})


class FakeApi:
    """Objects by path (``/api/v1/nodes/n1``), with the semantics listed above."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.calls: list[tuple[str, str]] = []  # (method, path)
        self._failures: dict[str, list[ApiError]] = defaultdict(list)
        self._versions = itertools.count(1)
        self._uids = itertools.count(1)

    def fail(self, method: str, error: ApiError, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` (get, create, update, patch) fail."""
        self._failures[method].extend([error] * times)

    def count(self, method: str, path: str | None = None) -> int:
        return sum(1 for m, p in self.calls if m == method and (path is None or p == path))

    def _enter(self, method: str, path: str) -> None:
        self.calls.append((method, path))
        if self._failures[method]:
            raise self._failures[method].pop(0)

    def _stored(self, path: str) -> Obj:
        if path not in self.objects:
            raise _error(404, "NotFound", f"{path} not found")
        return self.objects[path]

    def _store(self, path: str, obj: Obj) -> Obj:
        obj.setdefault("metadata", {})["resourceVersion"] = str(next(self._versions))
        self.objects[path] = obj
        return copy.deepcopy(obj)

    async def get(self, path: str) -> Obj:
        self._enter("get", path)
        return copy.deepcopy(self._stored(path))

    async def create(self, path: str, obj: Obj) -> Obj:
        self._enter("create", path)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        target = f"{path}/{meta['name']}"
        if target in self.objects:
            raise _error(409, "AlreadyExists", f"{meta['name']} already exists")
        meta["uid"] = f"uid-{next(self._uids)}"
        meta["creationTimestamp"] = "2024-01-01T00:00:00Z"
        return self._store(target, obj)

    async def update(self, path: str, obj: Obj) -> Obj:
        self._enter("update", path)
        current = self._stored(path)
        wanted = (obj.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise _error(409, "Conflict", "the object has been modified")
        obj = copy.deepcopy(obj)
        obj["metadata"]["uid"] = current["metadata"].get("uid")
        return self._store(path, obj)

    async def patch(self, path: str, patch: Obj, *, patch_type: PatchType = "merge") -> Obj:
        self._enter("patch", path)
        status_only = path.endswith("/status")
        base = path.removesuffix("/status")
        current = self._stored(base)
        if patch_type == "strategic":
            schema = schema_for_kind(str(current.get("kind", "")))
            patched = apply_strategic_merge_patch(current, patch, schema)
        elif patch_type == "merge":
            patched = apply_merge_patch(current, patch)
        else:
            raise _error(415, "UnsupportedMediaType", patch_type)
        if status_only:
            merged = copy.deepcopy(current)
            merged["status"] = patched.get("status", {})
            patched = merged
        else:
            patched["status"] = copy.deepcopy(current.get("status", {}))
        patched["metadata"]["uid"] = current["metadata"].get("uid")
        return self._store(base, patched)


@dataclass
class FakeRecorder:
    """Keeps posted events as (type, reason, note) tuples."""

    events: list[tuple[str, str, str]] = field(default_factory=list)
    regarding: list[Obj] = field(default_factory=list)

    def post(
        self,
        regarding: Obj,
        *,
        type: EventType,
        reason: str,
        action: str,
        note: str,
        related: Obj | None = None,
    ) -> None:
        self.events.append((type, reason, note))
        self.regarding.append(regarding)

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]


READY_STATUS = cri.RuntimeStatus(
    conditions=(
        cri.RuntimeCondition(type="RuntimeReady", status=True),
        cri.RuntimeCondition(type="NetworkReady", status=True),
    )
)


@dataclass
class FakeRuntimeInfo:
    """A runtime's ``status``/``version`` and an image list, set by the test; a non-``None``
    ``error`` makes every call raise it, ``status_error`` only ``status``."""

    status_: cri.RuntimeStatus = READY_STATUS
    version_: cri.VersionInfo = field(
        default_factory=lambda: cri.VersionInfo(
            version="v1", runtime_name="process", runtime_version="0.1.0"
        )
    )
    images: list[cri.Image] = field(default_factory=list)
    error: Exception | None = None
    status_error: Exception | None = None

    async def status(self) -> cri.RuntimeStatus:
        error = self.error or self.status_error
        if error is not None:
            raise error
        return self.status_

    async def version(self) -> cri.VersionInfo:
        if self.error is not None:
            raise self.error
        return self.version_

    async def list_images(self) -> list[cri.Image]:
        if self.error is not None:
            raise self.error
        return list(self.images)
