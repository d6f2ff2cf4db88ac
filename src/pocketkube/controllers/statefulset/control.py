"""One pass of the StatefulSet algorithm (upstream's ``stateful_set_control.go`` and
``stateful_pod_control.go``).

The set's ``spec.replicas`` ordinals ``[start, start + replicas)`` each want a pod; pods of
higher ordinals are *condemned*. In ordinal order, a missing pod is created (its claims first);
a failed or succeeded pod is deleted (to be recreated); a pod with the wrong identity or storage
is fixed. With ``OrderedReady`` (monotonic) the pass stops at the first pod it creates or that
is not yet Running and Ready (or terminating), so pod N+1 comes only after pod N is ready, and
condemned pods go one at a time from the highest ordinal, each only once the rest are healthy;
with ``Parallel`` it goes on. Then, with the ``RollingUpdate`` strategy, the highest-ordinal pod
at or above ``partition`` that does not run the update revision is deleted (it comes back from
the new template on a later pass), one at a time, only when the pods above it are healthy;
``OnDelete`` leaves that to the user.

Events as upstream's StatefulPodControl: ``SuccessfulCreate`` "create Pod web-0 in StatefulSet
web successful", ``FailedCreate`` "... failed error: ...", the same for ``delete`` and
``update``, and "create Claim data-web-0 Pod web-0 in StatefulSet web success" for claims.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pocketkube.client import resources
from pocketkube.client.events import EventType
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import Store
from pocketkube.controllers import podcontrol as pc
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.context import Recorder
from pocketkube.controllers.statefulset import identity as ident

log = logging.getLogger(__name__)
NORMAL: EventType = "Normal"
WARNING: EventType = "Warning"


def is_created(pod: Obj) -> bool:
    return bool((pod.get("status") or {}).get("phase"))


def is_terminating(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def is_running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and pc.is_pod_ready(pod)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def is_finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


@dataclass
class Outcome:
    """What a pass found waiting: when to look again for availability (seconds)."""

    requeue_after: float | None = None
    errors: list[Exception] = field(default_factory=list)


class StatefulPodControl:
    """Creates, updates and deletes a set's pods and claims, with upstream's events."""

    def __init__(self, *, client: ApiClient, recorder: Recorder, claims: Store) -> None:
        self._client = client
        self._recorder = recorder
        self._claims = claims

    def _event(self, sts: Obj, verb: str, what: str, err: BaseException | None) -> None:
        name = sts["metadata"]["name"]
        if err is None:
            ending = "success" if what.startswith("Claim") else "successful"
            note = f"{verb} {what} in StatefulSet {name} {ending}"
            reason, type_ = f"Successful{verb.title()}", NORMAL
        else:
            what = what.replace(" Pod ", " for Pod ", 1) if what.startswith("Claim") else what
            note = f"{verb} {what} in StatefulSet {name} failed error: {pc.describe(err)}"
            reason, type_ = f"Failed{verb.title()}", WARNING
        self._recorder.post(sts, type=type_, reason=reason, action=verb.title(), note=note)

    async def create_missing_claims(self, sts: Obj, pod: Obj) -> None:
        namespace = sts["metadata"].get("namespace")
        for claim in ident.claims_for(sts, ident.ordinal_of(pod)).values():
            name = claim["metadata"]["name"]
            if self._claims.get(f"{namespace}/{name}") is not None:
                continue
            what = f"Claim {name} Pod {pod['metadata']['name']}"
            ident.update_claim_owner_refs(sts, pod, claim)
            try:
                await self._client.create(
                    resources.PERSISTENT_VOLUME_CLAIMS.path(namespace=namespace), claim
                )
            except ApiError as err:
                if err.already_exists:
                    continue  # our informer has not seen it yet
                self._event(sts, "create", what, err)
                raise
            self._event(sts, "create", what, None)

    async def fix_claim_owners(self, sts: Obj, pod: Obj) -> None:
        """Bring the owner references of ``pod``'s existing claims in line with the set's
        retention policy."""
        namespace = sts["metadata"].get("namespace")
        for wanted in ident.claims_for(sts, ident.ordinal_of(pod)).values():
            name = wanted["metadata"]["name"]
            claim = self._claims.get(f"{namespace}/{name}")
            if claim is None:
                continue
            claim = copy.deepcopy(claim)
            if not ident.update_claim_owner_refs(sts, pod, claim):
                continue
            path = resources.PERSISTENT_VOLUME_CLAIMS.path(namespace=namespace, name=name)
            try:
                await self._client.update(path, claim)
            except ApiError as err:
                if not err.not_found:
                    raise

    async def create(self, sts: Obj, pod: Obj) -> None:
        what = f"Pod {pod['metadata']['name']}"
        try:
            await self.create_missing_claims(sts, pod)
        except ApiError as err:
            self._event(sts, "create", what, err)
            raise
        namespace = pod["metadata"].get("namespace")
        try:
            await self._client.create(resources.PODS.path(namespace=namespace), pod)
        except ApiError as err:
            if not err.already_exists:  # our informer is behind: no event
                self._event(sts, "create", what, err)
            raise
        self._event(sts, "create", what, None)

    async def update(self, sts: Obj, pod: Obj) -> None:
        """Give an existing pod its identity and storage back."""
        fixed = copy.deepcopy(pod)
        ident.update_identity(sts, fixed)
        ident.update_storage(sts, fixed)
        await self.create_missing_claims(sts, fixed)
        meta = pod["metadata"]
        path = resources.PODS.path(namespace=meta.get("namespace"), name=meta["name"])
        try:
            await self._client.update(path, fixed)
        except ApiError as err:
            self._event(sts, "update", f"Pod {meta['name']}", err)
            raise
        self._event(sts, "update", f"Pod {meta['name']}", None)

    async def delete(self, sts: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        path = resources.PODS.path(namespace=meta.get("namespace"), name=meta["name"])
        try:
            await self._client.delete(path)
        except ApiError as err:
            if err.not_found:
                return
            self._event(sts, "delete", f"Pod {meta['name']}", err)
            raise
        self._event(sts, "delete", f"Pod {meta['name']}", None)


@dataclass
class Plan:
    """The set at its current and update revisions and the revisions' names."""

    current_set: Obj
    update_set: Obj
    current_revision: str
    update_revision: str


def replicas_of(sts: Obj) -> int:
    replicas = (sts.get("spec") or {}).get("replicas")
    return replicas if isinstance(replicas, int) and replicas >= 0 else 1


def _partition(sts: Obj) -> int:
    strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
    partition = (strategy.get("rollingUpdate") or {}).get("partition")
    return partition if isinstance(partition, int) and partition > 0 else 0


def versioned_pod(sts: Obj, plan: Plan, ordinal: int) -> Obj:
    """A new pod for ``ordinal``: below the partition, from the current revision (upstream's
    newVersionedStatefulSetPod)."""
    strategy = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
    index = ordinal - ident.start_ordinal(sts)
    if strategy == "RollingUpdate" and index < _partition(sts):
        return ident.new_pod(plan.current_set, ordinal, plan.current_revision)
    return ident.new_pod(plan.update_set, ordinal, plan.update_revision)


class StatefulSetControl:
    def __init__(self, *, pods: StatefulPodControl, now: Callable[[], dt.datetime]) -> None:
        self.pods = pods
        self._now = now

    async def update(self, sts: Obj, plan: Plan, pods: list[Obj]) -> Outcome:
        """Create, fix, delete and roll ``sts``'s pods one pass further."""
        outcome = Outcome()
        spec = sts.get("spec") or {}
        count = replicas_of(sts)
        start = ident.start_ordinal(sts)
        min_ready = int(spec.get("minReadySeconds") or 0)
        monotonic = spec.get("podManagementPolicy") != "Parallel"
        replicas: list[Obj | None] = [None] * count
        condemned = []
        for pod in pods:
            ordinal = ident.ordinal_of(pod)
            if start <= ordinal < start + count:
                replicas[ordinal - start] = pod
            elif ordinal >= 0:
                condemned.append(pod)
        wanted = [
            pod if pod is not None else versioned_pod(sts, plan, start + i)
            for i, pod in enumerate(replicas)
        ]
        condemned.sort(key=ident.ordinal_of, reverse=True)
        unhealthy = [p for p in wanted if is_created(p) and not is_healthy(p)]
        unhealthy += [p for p in condemned if not is_healthy(p)]
        first_unhealthy = unhealthy[0] if unhealthy else None
        if (sts.get("metadata") or {}).get("deletionTimestamp"):
            return outcome

        def unavailable(pod: Obj) -> bool:
            if pc.is_pod_available(pod, min_ready, self._now()):
                return False
            since = pc.ready_since(pod)
            if since is not None and min_ready:
                left = (since - self._now()).total_seconds() + min_ready
                outcome.requeue_after = (
                    left if outcome.requeue_after is None else min(outcome.requeue_after, left)
                )
            return True

        for pod in wanted:
            stop = await self._process_replica(sts, pod, monotonic, unavailable, outcome)
            if stop:
                return outcome
        for pod in condemned:  # scaled-down pods' claims follow whenScaled
            try:
                await self.pods.fix_claim_owners(sts, pod)
            except ApiError as err:
                outcome.errors.append(err)
                return outcome
        for pod in condemned:
            if is_terminating(pod):
                if monotonic:
                    return outcome
                continue
            if (
                monotonic
                and pod is not first_unhealthy
                and (not is_running_and_ready(pod) or unavailable(pod))
            ):
                return outcome
            try:
                await self.pods.delete(sts, pod)
            except ApiError as err:
                outcome.errors.append(err)
                return outcome
            if monotonic:
                return outcome
        if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
            return outcome  # OnDelete
        for pod in reversed(wanted[_partition(sts) :]):
            if ident.revision_of(pod) != plan.update_revision and not is_terminating(pod):
                log.info(
                    "statefulset %s: terminating pod %s for update",
                    sts["metadata"]["name"],
                    pod["metadata"]["name"],
                )
                try:
                    await self.pods.delete(sts, pod)
                except ApiError as err:
                    outcome.errors.append(err)
                return outcome
            if not is_healthy(pod):
                return outcome  # wait for it before touching the next
        return outcome

    async def _process_replica(
        self,
        sts: Obj,
        pod: Obj,
        monotonic: bool,
        unavailable: Callable[[Obj], bool],
        outcome: Outcome,
    ) -> bool:
        """Do what ``pod`` needs; True when the pass must stop here."""
        try:
            if is_finished(pod):
                if not is_terminating(pod):
                    await self.pods.delete(sts, pod)  # recreated once it is gone
                return True
            if not is_created(pod):
                await self.pods.create(sts, pod)
                return monotonic
            if (pod.get("status") or {}).get("phase") == "Pending":
                await self.pods.create_missing_claims(sts, pod)
            if is_terminating(pod) and monotonic:
                return True
            if monotonic and (not is_running_and_ready(pod) or unavailable(pod)):
                return True
            if not (ident.identity_matches(sts, pod) and ident.storage_matches(sts, pod)):
                await self.pods.update(sts, pod)
            await self.pods.fix_claim_owners(sts, pod)
        except ApiError as err:
            outcome.errors.append(err)
            return True
        return False
