"""CertificateSigningRequests as upstream's registry stores them
(pkg/registry/certificates/certificates/strategy.go): one storage, three write paths.

- create: whatever the client says about who it is (``spec.username``, ``uid``, ``groups``,
  ``extra``) is replaced by the authenticated requester, and the status starts empty, so nobody
  can create a request that is pre-approved or claims another identity;
- the main resource: only metadata changes; spec and status stay as stored;
- ``/status`` (the signer): the status changes, but the ``Approved``/``Denied`` conditions stay
  as stored (adding or removing one fails validation instead);
- ``/approval`` (the approver, ``kubectl certificate approve``): only ``status.conditions``
  changes; the certificate stays as stored.

New conditions get ``lastUpdateTime`` now, and ``lastTransitionTime`` from the stored condition
of the same type and status (else now). Validation is ``pocketkube.api.certificates``, with the
powers of the path the write came through.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from pocketkube.api import certificates, status
from pocketkube.api.status import StatusError
from pocketkube.api.validation import validate_object_meta, validate_path_segment_name
from pocketkube.apiserver.identity import REQUEST_USER, Identity
from pocketkube.apiserver.objectmeta import now_rfc3339
from pocketkube.apiserver.registry import ResourceInfo, ResourceRegistry
from pocketkube.storage.interface import Obj, Storage

STATUS = "status"
APPROVAL = "approval"
IDENTITY_FIELDS = ("username", "uid", "groups", "extra")


def prepare_for_create(csr: Obj, user: Identity | None) -> None:
    """Record the requester in the spec and clear the status (in place)."""
    spec = csr.get("spec")
    if isinstance(spec, dict):
        for key in IDENTITY_FIELDS:
            spec.pop(key, None)
        if user is not None:
            spec.update(certificates.requesting_user(user.user, user.groups))
    csr["status"] = {}


def _spec_and_status(csr: Obj) -> tuple[Any, dict[str, Any]]:
    got = csr.get("status")
    return csr.get("spec"), got if isinstance(got, dict) else {}


def _conditions(csr: Obj) -> list[Any]:
    found = _spec_and_status(csr)[1].get("conditions")
    return found if isinstance(found, list) else []


def _keep_stored_instances(new: Obj, old: Obj, condition_type: str) -> None:
    """The stored conditions of ``condition_type`` replace the new ones, when there are as many
    (upstream's preserveConditionInstances); a different count is left for validation."""
    new_conditions, old_conditions = _conditions(new), _conditions(old)
    new_at = [i for i, c in enumerate(new_conditions) if _type(c) == condition_type]
    old_at = [i for i, c in enumerate(old_conditions) if _type(c) == condition_type]
    if len(new_at) != len(old_at):
        return
    for i, j in zip(new_at, old_at, strict=True):
        new_conditions[i] = copy.deepcopy(old_conditions[j])


def _type(condition: Any) -> Any:
    return condition.get("type") if isinstance(condition, dict) else None


def stamp_conditions(new: Obj, old: Obj, now: str) -> None:
    """Fill the missing times of ``new``'s conditions (upstream's populateConditionTimestamps)."""
    old_conditions = [c for c in _conditions(old) if isinstance(c, dict)]
    for condition in _conditions(new):
        if not isinstance(condition, dict):
            continue
        if not condition.get("lastUpdateTime"):
            condition["lastUpdateTime"] = now
        if not condition.get("lastTransitionTime"):
            condition["lastTransitionTime"] = next(
                (
                    c["lastTransitionTime"]
                    for c in old_conditions
                    if c.get("type") == condition.get("type")
                    and c.get("status") == condition.get("status")
                    and c.get("lastTransitionTime")
                ),
                now,
            )


def prepare_for_update(subresource: str, new: Obj, old: Obj, *, now: str) -> Obj:
    """``new`` as the write path ``subresource`` ("", "status" or "approval") may store it."""
    old_spec, old_status = _spec_and_status(old)
    if subresource == STATUS:
        _keep_stored_instances(new, old, certificates.APPROVED)
        _keep_stored_instances(new, old, certificates.DENIED)
        stamp_conditions(new, old, now)
    elif subresource == APPROVAL:
        stamp_conditions(new, old, now)
        conditions = _spec_and_status(new)[1].get("conditions")
        kept = copy.deepcopy(old_status)
        if conditions is None:
            kept.pop("conditions", None)
        else:
            kept["conditions"] = conditions
        new["status"] = kept
    else:
        _set(new, "status", copy.deepcopy(old.get("status")))
    _set(new, "spec", copy.deepcopy(old_spec))
    return new


def _set(obj: Obj, key: str, value: Any) -> None:
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = value


class CSRRegistry(ResourceRegistry):
    """The certificatesigningrequests storage, seen through one write path (``subresource``)."""

    # Any name that can be a path segment (upstream: "we don't care what you call your
    # certificate requests"); the kubelet's names hold base64url digests.
    name_validator = staticmethod(validate_path_segment_name)

    def __init__(self, *, info: ResourceInfo, storage: Storage, subresource: str = "") -> None:
        super().__init__(info=info, storage=storage)
        self.subresource = subresource

    def for_subresource(self, subresource: str) -> ResourceRegistry:
        if subresource in (STATUS, APPROVAL) and subresource != self.subresource:
            return CSRRegistry(info=self.info, storage=self.storage, subresource=subresource)
        return self

    async def create(self, namespace: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        prepare_for_create(obj, REQUEST_USER.get())
        return await super().create(namespace, obj, dry_run=dry_run)

    async def update(
        self, namespace: str, name: str, mutate: Callable[[Obj], Awaitable[Obj]], *, dry_run: bool
    ) -> Obj:
        async def prepared(current: Obj) -> Obj:
            desired = await mutate(copy.deepcopy(current))
            return prepare_for_update(self.subresource, desired, current, now=now_rfc3339())

        return await super().update(namespace, name, prepared, dry_run=dry_run)

    def _validate(self, obj: Obj, old: Obj | None = None) -> None:
        errors = validate_object_meta(
            obj["metadata"], namespaced=False, name_validator=self.name_validator
        )
        if old is None:
            errors += certificates.validate_create(obj)
        else:
            errors += certificates.validate_update(
                obj,
                old,
                set_approval=self.subresource == APPROVAL,
                set_certificate=self.subresource == STATUS,
            )
        if errors:
            name = str(obj["metadata"].get("name", ""))
            raise StatusError(status.invalid(self.info.kind, name, errors, self.info.group))
