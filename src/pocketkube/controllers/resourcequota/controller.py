"""The ResourceQuota controller: keeps each quota's ``status`` (``hard`` and ``used``) current.

Upstream's ``pkg/controller/resourcequota``: a quota is synced when it is created, when its
``spec.hard`` differs from ``status.hard``, when an object it counts changes in its namespace
(upstream's replenishment), and every ``--resource-quota-sync-period`` (5 min). The sync sums the
usage (``usage``) of the namespace's pods, services, persistentvolumeclaims, configmaps, secrets,
replicationcontrollers and resourcequotas from shared informers, and counts other
``count/<resource>.<group>`` entries by listing them through the API (rechecked every 10 s, since
nothing watches them here); only the names in ``spec.hard`` are reported, and the status is
written only when ``hard`` or ``used`` changed. Admission-time enforcement (the ResourceQuota
admission plugin refusing what would exceed ``hard``) is not part of this controller.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from pocketkube.api.timestamps import utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, namespace_index, split_key
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.resourcequota import usage
from pocketkube.controllers.resourcequota.usage import Amount, Usage

log = logging.getLogger(__name__)

NAME = "resourcequota"
RESYNC_SECONDS = 300.0  # --resource-quota-sync-period
UNWATCHED_RECHECK_SECONDS = 10.0
GROUP_VERSION_TTL = 60.0

# The resources counted from informers: plural -> client resource.
WATCHED: dict[str, Resource] = {
    "pods": resources.PODS,
    "services": resources.SERVICES,
    "persistentvolumeclaims": resources.PERSISTENT_VOLUME_CLAIMS,
    "configmaps": resources.CONFIGMAPS,
    "secrets": resources.SECRETS,
    "replicationcontrollers": resources.REPLICATION_CONTROLLERS,
    "resourcequotas": resources.RESOURCE_QUOTAS,
}
SERVICE_NAMES = {"services", "count/services", "services.loadbalancers", "services.nodeports"}


def owner_of(name: str) -> str | None:
    """Which resource (a WATCHED plural, or ``count/`` target) charges quota name ``name``."""
    if name in ("pods", "count/pods") or name in usage.COMPUTE or name.startswith("hugepages-"):
        return "pods"
    if name in SERVICE_NAMES:
        return "services"
    if name in ("persistentvolumeclaims", "count/persistentvolumeclaims", "requests.storage"):
        return "persistentvolumeclaims"
    if usage.STORAGE_CLASS_SUFFIX in name:
        return "persistentvolumeclaims"
    if name.startswith(("requests.", "limits.")):
        return "pods"
    if name in WATCHED:
        return name
    if name.startswith("count/"):
        return name.removeprefix("count/")
    return None


def _values(resource_list: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for name, text in (resource_list or {}).items():
        amount = Amount.parse(text)
        parsed[name] = amount.value if amount is not None else text
    return parsed


class ResourceQuotaController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        quota_informer: Informer,
        watched: dict[str, Informer],
        workers: int = 5,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(
            informers=[quota_informer, *watched.values()], workers=workers, clock=clock
        )
        self._client = client
        self._quotas = quota_informer.store
        self._watched = {plural: informer.store for plural, informer in watched.items()}
        self._now = now
        self._group_versions: dict[str, tuple[float, str | None]] = {}
        for informer in (quota_informer, *watched.values()):
            with contextlib.suppress(ValueError):  # shared: another controller may index it
                informer.add_indexer(NAMESPACE_INDEX, namespace_index)
        quota_informer.add_handler(on_add=self.enqueue, on_update=self._quota_updated)
        for plural, informer in watched.items():
            on_object, on_update = self._replenisher(plural)
            informer.add_handler(on_add=on_object, on_update=on_update, on_delete=on_object)

    def _replenisher(self, plural: str) -> tuple[Callable[[Obj], None], Callable[[Obj, Obj], None]]:
        def on_object(obj: Obj) -> None:
            self._replenish(plural, obj)

        def on_update(old: Obj, new: Obj) -> None:
            self._replenish(plural, new)

        return on_object, on_update

    def _quota_updated(self, old: Obj, new: Obj) -> None:
        hard = (new.get("spec") or {}).get("hard")
        if old.get("spec") != new.get("spec") or _values(hard) != _values(
            (new.get("status") or {}).get("hard")
        ):
            self.enqueue(new)

    def _replenish(self, plural: str, obj: Obj) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace")
        if not namespace:
            return
        for quota in self._quotas.by_index(NAMESPACE_INDEX, str(namespace)):
            hard = (quota.get("spec") or {}).get("hard") or {}
            if any(owner_of(name) == plural for name in hard):
                self.enqueue(quota)

    async def sync(self, key: str) -> None:
        quota = self._quotas.get(key)
        if quota is None:
            return
        namespace, name = split_key(key)
        assert namespace is not None
        hard: dict[str, Any] = dict((quota.get("spec") or {}).get("hard") or {})
        used, unwatched = await self._usage(namespace, quota, hard)
        status = quota.get("status") or {}
        written = {n: usage.format_quantity(a) for n, a in sorted(used.items())}
        dirty = (
            "hard" not in status
            or "used" not in status
            or _values(status.get("hard")) != _values(hard)
            or _values(status.get("used")) != _values(written)
        )
        if dirty:
            updated = {**quota, "status": {"hard": hard, "used": written}}
            path = resources.RESOURCE_QUOTAS.path(
                namespace=namespace, name=name, subresource="status"
            )
            try:
                await self._client.update(path, updated)
            except ApiError as err:
                if not err.not_found:
                    raise
                return
        self.queue.add_after(key, UNWATCHED_RECHECK_SECONDS if unwatched else RESYNC_SECONDS)

    async def _usage(self, namespace: str, quota: Obj, hard: dict[str, Any]) -> tuple[Usage, bool]:
        """The quota's used amounts (names in ``hard`` that some resource charges) and whether
        any of them came from a resource listed through the API."""
        owners = {n: owner_of(n) for n in hard}
        used: Usage = {n: Amount(0) for n, owner in owners.items() if owner is not None}
        scopes = usage.scopes_of(quota)
        now = self._now()
        unwatched = False
        for owner in sorted({o for o in owners.values() if o is not None}):
            if scopes and owner != "pods":
                continue  # a scoped quota charges pods only
            if owner in self._watched:
                for obj in self._watched[owner].by_index(NAMESPACE_INDEX, namespace):
                    if owner == "pods" and scopes and not usage.pod_in_scopes(obj, scopes):
                        continue
                    self._charge(used, owner, obj, now)
                continue
            unwatched = True
            count = await self._count(namespace, owner)
            if count is None:
                used.pop(f"count/{owner}", None)
            else:
                used[f"count/{owner}"] = Amount(count)
        return used, unwatched

    def _charge(self, used: Usage, owner: str, obj: Obj, now: dt.datetime) -> None:
        if owner == "pods":
            charged = usage.pod_usage(obj, now)
        elif owner == "services":
            charged = usage.service_usage(obj)
        elif owner == "persistentvolumeclaims":
            charged = usage.pvc_usage(obj)
        else:
            charged = usage.object_count_usage(owner, owner)
        usage.add(used, {n: a for n, a in charged.items() if n in used})

    async def _count(self, namespace: str, qualified: str) -> int | None:
        """How many ``plural[.group]`` objects ``namespace`` holds; None for an unknown one."""
        plural, _, group = qualified.partition(".")
        version = "v1" if not group else await self._preferred_version(group)
        if version is None:
            return None
        resource = Resource(group=group, version=version, plural=plural, namespaced=True, kind="")
        try:
            listed = await self._client.get(resource.path(namespace=namespace))
        except ApiError as err:
            if err.not_found:
                return None
            raise
        return len(listed.get("items") or [])

    async def _preferred_version(self, group: str) -> str | None:
        cached = self._group_versions.get(group)
        if cached is not None and time.monotonic() - cached[0] < GROUP_VERSION_TTL:
            return cached[1]
        try:
            found = await self._client.get(f"/apis/{group}")
        except ApiError as err:
            if not err.not_found:
                raise
            version = None
        else:
            preferred = found.get("preferredVersion") or {}
            version = preferred.get("version") or None
        self._group_versions[group] = (time.monotonic(), version)
        return version
