"""How many pods a pod's controller wants: the disruption controller's "finders".

As upstream, the built-in workloads are read from the informers (a ReplicationController, a
Deployment through the ReplicaSet that owns the pod, a ReplicaSet not owned by a Deployment, a
StatefulSet: their ``spec.replicas``); any other controller is asked through its ``/scale``
subresource, found by discovery (the resource whose kind the owner reference names). A
reference whose UID does not match the object found is a stale one: no controller.
"""

from __future__ import annotations

from collections.abc import Sequence

from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import Store
from pocketkube.controllers.base import ApiClient


def controller_of(obj: Obj) -> Obj | None:
    """The owner reference with ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def _group(api_version: object) -> str:
    text = str(api_version or "")
    parts = text.split("/")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"unexpected GroupVersion string: {text}")
    return parts[0] if len(parts) == 2 else ""


def _is(ref: Obj, kind: str, groups: Sequence[str]) -> bool:
    return ref.get("kind") == kind and _group(ref.get("apiVersion")) in groups


def _replicas(obj: Obj) -> int:
    replicas = (obj.get("spec") or {}).get("replicas")
    return int(replicas) if isinstance(replicas, int) else 1


class ScaleFinder:
    def __init__(
        self,
        *,
        client: ApiClient,
        replica_sets: Informer,
        deployments: Informer,
        replication_controllers: Informer,
        stateful_sets: Informer,
    ) -> None:
        self._client = client
        self.informers = (replica_sets, deployments, replication_controllers, stateful_sets)
        self._rs = replica_sets.store
        self._deployments = deployments.store
        self._rcs = replication_controllers.store
        self._sets = stateful_sets.store

    async def find(self, ref: Obj, namespace: str) -> tuple[str, int] | None:
        """(the controller's UID, its replicas), or None when no such controller exists.
        ``ValueError`` when the reference cannot be resolved at all."""
        if _is(ref, "ReplicationController", ("",)):
            return _matching(self._rcs, namespace, ref)
        if _is(ref, "ReplicaSet", ("apps", "extensions")):
            rs = self._rs.get(f"{namespace}/{ref.get('name')}")
            if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
                return None
            owner = controller_of(rs)
            if owner is not None and _is(owner, "Deployment", ("apps", "extensions")):
                deployment = _matching(self._deployments, namespace, owner)
                if deployment is not None:
                    return deployment
            # upstream reaches the ReplicaSet's own scale when its Deployment is not found
            return str(rs["metadata"]["uid"]), _replicas(rs)
        if _is(ref, "StatefulSet", ("apps",)):
            return _matching(self._sets, namespace, ref)
        return await self._from_scale_subresource(ref, namespace)

    async def _from_scale_subresource(self, ref: Obj, namespace: str) -> tuple[str, int] | None:
        api_version = str(ref.get("apiVersion") or "")
        group = _group(api_version)
        prefix = f"/apis/{api_version}" if group else f"/api/{api_version}"
        try:
            listing = await self._client.get(prefix)
        except ApiError as err:
            if err.not_found:
                raise ValueError(
                    f'no matches for kind "{ref.get("kind")}" in version "{api_version}"'
                ) from None
            raise
        entries = listing.get("resources") or []
        plural = next(
            (
                str(r["name"])
                for r in entries
                if r.get("kind") == ref.get("kind") and "/" not in str(r.get("name"))
            ),
            None,
        )
        if plural is None:
            raise ValueError(f'no matches for kind "{ref.get("kind")}" in version "{api_version}"')
        path = f"{prefix}/namespaces/{namespace}/{plural}/{ref.get('name')}/scale"
        try:
            scale = await self._client.get(path)
        except ApiError as err:
            if not err.not_found:
                raise
            if not any(r.get("name") == f"{plural}/scale" for r in entries):
                resource = f"{plural}.{group}" if group else plural
                raise ValueError(f"{resource} does not implement the scale subresource") from None
            return None
        uid = (scale.get("metadata") or {}).get("uid")
        if uid != ref.get("uid"):
            return None
        return str(uid), int((scale.get("spec") or {}).get("replicas") or 0)


def _matching(store: Store, namespace: str, ref: Obj) -> tuple[str, int] | None:
    obj = store.get(f"{namespace}/{ref.get('name')}")
    if obj is None or obj["metadata"].get("uid") != ref.get("uid"):
        return None
    return str(obj["metadata"]["uid"]), _replicas(obj)
