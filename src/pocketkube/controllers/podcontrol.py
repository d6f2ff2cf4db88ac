"""What every controller that owns pods shares (upstream's ``pkg/controller/controller_utils.go``
and ``controller_ref_manager.go``); the ReplicaSet, ReplicationController, StatefulSet, Job and
DaemonSet controllers build on it.

- ``PodControl``: creates and deletes pods through the client and records upstream's events on
  the owner (``SuccessfulCreate`` "Created pod: x", ``FailedCreate`` "Error creating: ...",
  ``SuccessfulDelete`` "Deleted pod: x", ``FailedDelete`` "Error deleting: ...").
  ``pod_from_template(template, owner, resource)`` builds the pod it creates: the template's
  labels, annotations, finalizers and spec, ``generateName: <owner>-`` and a controller
  ``ownerReference`` (``controller_ref_for``).
- ``ControllerExpectations``: a controller's informer lags behind its own writes, so after asking
  for N creations it must not create again until it has *seen* them. ``expect_creations`` /
  ``expect_deletions`` before writing, ``creation_observed`` / ``deletion_observed`` from the
  pod informer's add/delete handlers (and ``lower_expectations`` for writes that failed), and
  ``satisfied(key)`` at the start of a sync: only then may it compute a new diff. A record older
  than five minutes counts as satisfied, so a lost event only delays.
- ``PodControllerRefManager.claim_pods``: the pods a controller owns: those with its controller
  reference that still match its selector, plus orphans that match, adopted by patching an
  ``ownerReference`` in (after a live GET shows the owner is still there and not being deleted);
  owned pods that stopped matching are released by patching the reference out.
- Helpers: ``ensure_namespace_index`` (shared pod informers indexed by namespace),
  ``is_pod_active``, ``is_pod_ready``, ``is_pod_available``, ``controller_ref``,
  ``get_pods_to_delete`` (upstream's ``ActivePodsWithRanks`` order: the first pods in it are the
  cheapest to lose) and ``slow_start_batch`` (1, 2, 4, ... at once, stopping at the first
  error, so a controller whose pods all fail does not flood the API server).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import functools
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pocketkube.api.labels import LabelSelector
from pocketkube.client import resources
from pocketkube.client.clock import Clock, RealClock
from pocketkube.client.informer import Informer
from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, namespace_index
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.context import Recorder

log = logging.getLogger(__name__)

EXPECTATIONS_TIMEOUT = 5 * 60.0  # upstream's ExpectationsTimeout
SLOW_START_INITIAL_BATCH_SIZE = 1
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

# events (upstream's reasons and messages)
SUCCESSFUL_CREATE = "SuccessfulCreate"
FAILED_CREATE = "FailedCreate"
SUCCESSFUL_DELETE = "SuccessfulDelete"
FAILED_DELETE = "FailedDelete"


def ensure_namespace_index(informer: Informer) -> None:
    """Index a shared informer's store by namespace (``store.NAMESPACE_INDEX``); the first
    controller to ask adds it, the others find it there."""
    with contextlib.suppress(ValueError):
        informer.add_indexer(NAMESPACE_INDEX, namespace_index)


def describe(err: BaseException) -> str:
    """An error as upstream prints it: an API error's message alone."""
    return err.message if isinstance(err, ApiError) and err.message else str(err)


# -- pods: state -------------------------------------------------------------------------------
def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp as the API writes it, or None."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _condition(pod: Obj, type_: str) -> Obj | None:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if isinstance(condition, dict) and condition.get("type") == type_:
            return condition
    return None


def is_pod_active(pod: Obj) -> bool:
    """Not Succeeded or Failed and not being deleted (upstream's IsPodActive)."""
    phase = (pod.get("status") or {}).get("phase")
    deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
    return phase not in ("Succeeded", "Failed") and not deleting


def is_pod_ready(pod: Obj) -> bool:
    condition = _condition(pod, "Ready")
    return condition is not None and condition.get("status") == "True"


def ready_since(pod: Obj) -> dt.datetime | None:
    """When the pod's Ready condition last changed (when it became ready, if it is)."""
    return parse_time((_condition(pod, "Ready") or {}).get("lastTransitionTime"))


def is_pod_available(pod: Obj, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (upstream's IsPodAvailable)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + dt.timedelta(seconds=min_ready_seconds) <= now


def controller_ref(obj: Obj) -> Obj | None:
    """The ``ownerReference`` with ``controller: true``, if any (upstream's GetControllerOf)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def controller_ref_for(owner: Obj, resource: Resource) -> Obj:
    """The controller reference a pod of ``owner`` carries (upstream's NewControllerRef)."""
    meta = owner["metadata"]
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


# -- pods: which to delete first ---------------------------------------------------------------
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def _newer_first(value: Any) -> tuple[int, float]:
    """Empty time < newer < older (upstream's afterOrZero as a sort key)."""
    when = parse_time(value)
    return (0, 0.0) if when is None else (1, -when.timestamp())


def _deletion_cost(pod: Obj) -> int:
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _max_restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


def deletion_rank_key(pod: Obj, rank: int = 0) -> tuple[Any, ...]:
    """Upstream's ActivePodsWithRanks order: unassigned < assigned; Pending < Unknown <
    Running; not ready < ready; lower pod-deletion-cost first; more pods on the same node
    (``rank``) first; ready for less time first; more restarts first; newer first."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ready = is_pod_ready(pod)
    ready_since = (_condition(pod, "Ready") or {}).get("lastTransitionTime") if ready else None
    return (
        1 if spec.get("nodeName") else 0,
        _PHASE_ORDER.get(str(status.get("phase")), 0),
        1 if ready else 0,
        _deletion_cost(pod),
        -rank,
        _newer_first(ready_since) if ready else (0, 0.0),
        -_max_restarts(pod),
        _newer_first((pod.get("metadata") or {}).get("creationTimestamp")),
        str((pod.get("metadata") or {}).get("name", "")),
    )


def _log_rank(when: dt.datetime, now: dt.datetime) -> int:
    nanos = (now - when) / dt.timedelta(microseconds=1) * 1000
    return int(math.log2(nanos)) if nanos > 0 else -1


def _compare_times(
    t1: dt.datetime | None, t2: dt.datetime | None, now: dt.datetime, a: Obj, b: Obj
) -> int | None:
    """Upstream's LogarithmicScaleDown comparison: times in the same power-of-two age bucket
    are equal and the UID decides; None when the times are the same (look further)."""
    if t1 == t2:
        return None
    if t1 is None or t2 is None:
        return -1 if t1 is None else 1
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    if diff == 0:
        uid1, uid2 = (str(p["metadata"].get("uid", "")) for p in (a, b))
        return (uid1 > uid2) - (uid1 < uid2)
    return -1 if diff < 0 else 1


def _ranked_compare(a: Obj, b: Obj, rank_a: int, rank_b: int, now: dt.datetime) -> int:
    head_a, head_b = deletion_rank_key(a, rank_a)[:5], deletion_rank_key(b, rank_b)[:5]
    if head_a != head_b:
        return -1 if head_a < head_b else 1
    if is_pod_ready(a) and is_pod_ready(b):
        result = _compare_times(ready_since(a), ready_since(b), now, a, b)
        if result is not None:
            return result
    restarts_a, restarts_b = _max_restarts(a), _max_restarts(b)
    if restarts_a != restarts_b:
        return -1 if restarts_a > restarts_b else 1
    created = [parse_time((p.get("metadata") or {}).get("creationTimestamp")) for p in (a, b)]
    result = _compare_times(created[0], created[1], now, a, b)
    if result is not None:
        return result
    name_a, name_b = (str(p["metadata"].get("name", "")) for p in (a, b))
    return (name_a > name_b) - (name_a < name_b)


def get_pods_to_delete(
    pods: Sequence[Obj], diff: int, related: Iterable[Obj] = (), now: dt.datetime | None = None
) -> list[Obj]:
    """The ``diff`` pods to delete first; a pod's rank is how many of ``related`` (active pods
    of the same owner and its siblings; ``pods`` when empty) share its node. With ``now``,
    ready and creation times compare by power-of-two age buckets, then UID, as upstream's
    LogarithmicScaleDown (on by default) does, so scale-down spreads over ages."""
    if diff >= len(pods):
        return list(pods)
    per_node: dict[str, int] = {}
    for pod in related or pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and is_pod_active(pod):
            per_node[node] = per_node.get(node, 0) + 1

    def rank(pod: Obj) -> int:
        node = (pod.get("spec") or {}).get("nodeName")
        return per_node.get(node, 0) if node else 0

    if now is None:
        return sorted(pods, key=lambda pod: deletion_rank_key(pod, rank(pod)))[:diff]
    at = now

    def compare(a: Obj, b: Obj) -> int:
        return _ranked_compare(a, b, rank(a), rank(b), at)

    return sorted(pods, key=functools.cmp_to_key(compare))[:diff]


# -- batches -----------------------------------------------------------------------------------
async def slow_start_batch(
    count: int,
    fn: Callable[[], Awaitable[None]],
    initial_batch_size: int = SLOW_START_INITIAL_BATCH_SIZE,
) -> tuple[int, BaseException | None]:
    """Call ``fn`` ``count`` times in batches of 1, 2, 4, ... run at once; stop after the first
    batch with a failure. Returns how many calls succeeded and the first error."""
    remaining, batch, successes = count, min(count, initial_batch_size), 0
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# -- expectations ------------------------------------------------------------------------------
@dataclass
class _Expectation:
    add: int
    delete: int
    at: float


class ControllerExpectations:
    """Writes a controller made and has not yet seen, per controller key (upstream's
    ControllerExpectations; ``deletion_observed`` takes the pod key so a pod counted once is not
    counted again, as UIDTrackingControllerExpectations)."""

    def __init__(
        self, *, clock: Clock | None = None, timeout: float = EXPECTATIONS_TIMEOUT
    ) -> None:
        self._clock = clock or RealClock()
        self._timeout = timeout
        self._records: dict[str, _Expectation] = {}
        self._deleting: dict[str, set[str]] = {}  # controller key -> pod keys expected to go

    def satisfied(self, key: str) -> bool:
        """Whether a sync may compute a new diff: nothing outstanding, or the record expired."""
        record = self._records.get(key)
        if record is None:
            return True
        if record.add <= 0 and record.delete <= 0:
            return True
        return self._clock.now() - record.at > self._timeout

    def expect_creations(self, key: str, count: int) -> None:
        self._records[key] = _Expectation(count, 0, self._clock.now())

    def expect_deletions(self, key: str, pod_keys: Sequence[str]) -> None:
        self._records[key] = _Expectation(0, len(pod_keys), self._clock.now())
        self._deleting[key] = set(pod_keys)

    def lower_expectations(self, key: str, add: int = 0, delete: int = 0) -> None:
        record = self._records.get(key)
        if record is not None:
            record.add -= add
            record.delete -= delete

    def creation_observed(self, key: str) -> None:
        self.lower_expectations(key, add=1)

    def deletion_observed(self, key: str, pod_key: str | None = None) -> None:
        if pod_key is not None:
            expected = self._deleting.get(key)
            if expected is None or pod_key not in expected:
                return
            expected.discard(pod_key)
        self.lower_expectations(key, delete=1)

    def pending(self, key: str) -> tuple[int, int]:
        record = self._records.get(key)
        return (record.add, record.delete) if record is not None else (0, 0)

    def delete(self, key: str) -> None:
        """Forget ``key`` (its controller was deleted)."""
        self._records.pop(key, None)
        self._deleting.pop(key, None)


# -- creating and deleting ---------------------------------------------------------------------
def pod_from_template(template: Obj, owner: Obj, resource: Resource) -> Obj:
    """The pod ``owner`` creates from ``template`` (upstream's GetPodFromTemplate)."""
    meta = template.get("metadata") or {}
    pod_meta: Obj = {
        "generateName": f"{owner['metadata']['name']}-",
        "namespace": owner["metadata"].get("namespace"),
        "labels": dict(meta.get("labels") or {}),
        "ownerReferences": [controller_ref_for(owner, resource)],
    }
    if meta.get("annotations"):
        pod_meta["annotations"] = dict(meta["annotations"])
    if meta.get("finalizers"):
        pod_meta["finalizers"] = list(meta["finalizers"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def _is_namespace_terminating(err: ApiError) -> bool:
    causes = ((err.body or {}).get("details") or {}).get("causes") or ()
    return any(c.get("reason") == "NamespaceTerminating" for c in causes if isinstance(c, dict))


class PodControl:
    """Creates and deletes an owner's pods, recording upstream's events on the owner."""

    def __init__(self, *, client: ApiClient, recorder: Recorder) -> None:
        self._client = client
        self._recorder = recorder

    async def create_pod(self, pod: Obj, owner: Obj) -> Obj:
        """Create ``pod`` (see ``pod_from_template``) for ``owner``; raises the API's error."""
        namespace = pod["metadata"].get("namespace") or owner["metadata"].get("namespace")
        if not (pod["metadata"].get("labels") or {}):
            raise ValueError("unable to create pods, no labels")
        try:
            created = await self._client.create(resources.PODS.path(namespace=namespace), pod)
        except ApiError as err:
            if not _is_namespace_terminating(err):
                self._event(
                    owner, "Warning", FAILED_CREATE, "Create", f"Error creating: {describe(err)}"
                )
            raise
        name = created.get("metadata", {}).get("name") or pod["metadata"].get("name", "")
        self._event(owner, "Normal", SUCCESSFUL_CREATE, "Create", f"Created pod: {name}")
        return created

    async def create_pod_from_template(self, template: Obj, owner: Obj, resource: Resource) -> Obj:
        return await self.create_pod(pod_from_template(template, owner, resource), owner)

    async def delete_pod(self, namespace: str, name: str, owner: Obj) -> None:
        """Delete a pod of ``owner``; a pod already gone raises its 404 without an event."""
        try:
            await self._client.delete(resources.PODS.path(namespace=namespace, name=name))
        except ApiError as err:
            if not err.not_found:
                self._event(
                    owner, "Warning", FAILED_DELETE, "Delete", f"Error deleting: {describe(err)}"
                )
            raise
        self._event(owner, "Normal", SUCCESSFUL_DELETE, "Delete", f"Deleted pod: {name}")

    def _event(self, owner: Obj, type_: Any, reason: str, action: str, note: str) -> None:
        self._recorder.post(owner, type=type_, reason=reason, action=action, note=note)


# -- adoption and release ----------------------------------------------------------------------
class AdoptionError(Exception):
    """The owner may not adopt: it is gone or being deleted (checked live)."""


class PodControllerRefManager:
    """Claims pods for ``owner`` (upstream's PodControllerRefManager.ClaimPods); with
    ``claimed`` another namespaced kind the same way (ControllerRevisions, ReplicaSets)."""

    def __init__(
        self,
        *,
        client: ApiClient,
        owner: Obj,
        resource: Resource,
        selector: LabelSelector,
        can_adopt: Callable[[], Awaitable[None]] | None = None,
        claimed: Resource = resources.PODS,
    ) -> None:
        self._client = client
        self._claimed = claimed
        self._owner = owner
        self._resource = resource
        self._selector = selector
        self._can_adopt = can_adopt or self._recheck_owner
        self._adopt_checked = False
        self._adopt_error: Exception | None = None
        meta = owner["metadata"]
        self._uid = meta.get("uid")
        self._namespace = meta.get("namespace")
        self._owner_deleting = bool(meta.get("deletionTimestamp"))

    async def claim_pods(
        self, pods: Iterable[Obj], *filters: Callable[[Obj], bool]
    ) -> tuple[list[Obj], list[Exception]]:
        """The pods this owner keeps (adopting and releasing as needed) and the errors met."""
        claimed: list[Obj] = []
        errors: list[Exception] = []
        for pod in pods:
            try:
                if await self._claim(pod, filters):
                    claimed.append(pod)
            except Exception as err:  # gathered, as upstream aggregates them
                errors.append(err)
        return claimed, errors

    async def _claim(self, pod: Obj, filters: Sequence[Callable[[Obj], bool]]) -> bool:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        matches = self._selector.matches(labels) and all(f(pod) for f in filters)
        ref = controller_ref(pod)
        if ref is not None:
            if ref.get("uid") != self._uid:
                return False  # another controller's
            if matches:
                return True
            if self._owner_deleting:
                return False  # a dying owner neither adopts nor releases
            await self._release(pod)
            return False
        if not matches or self._owner_deleting or meta.get("deletionTimestamp"):
            return False
        if self._namespace and meta.get("namespace") != self._namespace:
            return False
        return await self._adopt(pod)

    async def _adopt(self, pod: Obj) -> bool:
        if not self._adopt_checked:  # once per claim, as upstream's sync.Once
            self._adopt_checked = True
            try:
                await self._can_adopt()
            except Exception as err:  # kept, raised for every orphan
                self._adopt_error = err
        if isinstance(self._adopt_error, AdoptionError):
            raise AdoptionError(
                f"can't adopt {self._claimed.kind} {_name(pod)}: {self._adopt_error}"
            )
        if self._adopt_error is not None:
            raise self._adopt_error
        ref = controller_ref_for(self._owner, self._resource)
        patch = {"metadata": {"ownerReferences": [ref], "uid": pod["metadata"].get("uid")}}
        try:
            await self._client.patch(self._path(pod), patch, patch_type="strategic")
        except ApiError as err:
            if err.not_found:
                return False  # gone already
            raise
        return True

    async def _release(self, pod: Obj) -> None:
        patch = {
            "metadata": {
                "ownerReferences": [{"$patch": "delete", "uid": self._uid}],
                "uid": pod["metadata"].get("uid"),
            }
        }
        try:
            await self._client.patch(self._path(pod), patch, patch_type="strategic")
        except ApiError as err:
            # gone, or no longer ours / no longer there to patch: nothing to release
            if not (err.not_found or err.status == 422):
                raise

    def _path(self, obj: Obj) -> str:
        meta = obj["metadata"]
        return self._claimed.path(namespace=meta.get("namespace"), name=meta["name"])

    async def _recheck_owner(self) -> None:
        """Upstream's RecheckDeletionTimestamp over a live GET of the owner."""
        meta = self._owner["metadata"]
        path = self._resource.path(namespace=self._namespace, name=meta["name"])
        try:
            fresh = await self._client.get(path)
        except ApiError as err:
            if err.not_found:
                raise AdoptionError(f"original {self._namespace}/{meta['name']} is gone") from err
            raise
        fresh_meta = fresh.get("metadata") or {}
        if fresh_meta.get("uid") != self._uid:
            raise AdoptionError(
                f"original {self._namespace}/{meta['name']} is gone: got uid "
                f"{fresh_meta.get('uid')}, wanted {self._uid}"
            )
        if fresh_meta.get("deletionTimestamp"):
            raise AdoptionError(
                f"{self._namespace}/{meta['name']} has just been deleted at "
                f"{fresh_meta['deletionTimestamp']}"
            )


def _name(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"
