"""What can be deleted in a namespace, as the API server's discovery documents say.

Upstream's namespace deleter asks discovery for the server's preferred namespaced resources
(``ServerPreferredNamespacedResources``: ``/api/v1`` and, for each group in ``/apis``, its
preferred version's ``APIResourceList``) and keeps those that support ``delete``; custom
resources are included because discovery lists them. A group whose list cannot be fetched is
reported (as client-go's ``ErrGroupDiscoveryFailed``) while the others are still used. The answer
is cached for a moment so that a burst of namespace syncs shares one round of requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient

CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class DeletableResource:
    resource: Resource
    verbs: frozenset[str]

    @property
    def gvr(self) -> str:
        """``pods.`` / ``deployments.apps``: how upstream's conditions name a resource."""
        return f"{self.resource.plural}.{self.resource.group}"


@dataclass(slots=True)
class Discovered:
    resources: list[DeletableResource] = field(default_factory=list)
    # group/version -> what went wrong fetching it
    failed: dict[str, str] = field(default_factory=dict)
    # group/version strings that could not be parsed
    unparsable: list[str] = field(default_factory=list)

    def discovery_error(self) -> str:
        """client-go's ``ErrGroupDiscoveryFailed`` text ("" when nothing failed)."""
        if not self.failed:
            return ""
        parts = ", ".join(f"{gv}: {err}" for gv, err in sorted(self.failed.items()))
        return f"unable to retrieve the complete list of server APIs: {parts}"


def parse_group_version(text: str) -> tuple[str, str] | None:
    """``schema.ParseGroupVersion``: ``v1`` or ``group/version``; None when malformed."""
    parts = text.split("/")
    if len(parts) == 1 and parts[0]:
        return "", parts[0]
    if len(parts) == 2 and parts[0] and parts[1]:
        return parts[0], parts[1]
    return None


def deletable(group_version: str, resource_list: Obj, found: Discovered) -> None:
    """Add the namespaced, deletable resources (not subresources) of one APIResourceList."""
    parsed = parse_group_version(group_version)
    if parsed is None:
        found.unparsable.append(group_version)
        return
    group, version = parsed
    for entry in resource_list.get("resources") or []:
        name = str(entry.get("name", ""))
        verbs = frozenset(str(v) for v in entry.get("verbs") or [])
        if not name or "/" in name or not entry.get("namespaced") or "delete" not in verbs:
            continue
        resource = Resource(
            group=group, version=version, plural=name, namespaced=True, kind=entry.get("kind", "")
        )
        found.resources.append(DeletableResource(resource=resource, verbs=verbs))


def preferred_versions(groups: Obj) -> list[str]:
    """Each group's preferred group/version from an APIGroupList."""
    result = []
    for group in groups.get("groups") or []:
        preferred: Any = group.get("preferredVersion") or {}
        gv = preferred.get("groupVersion") or next(
            (v.get("groupVersion") for v in group.get("versions") or []), None
        )
        if gv:
            result.append(str(gv))
    return result


async def discover(client: ApiClient) -> Discovered:
    """Every namespaced resource that supports delete, in the server's preferred versions."""
    found = Discovered()
    core = await client.get("/api")
    group_versions = [str(v) for v in core.get("versions") or []]
    group_versions += preferred_versions(await client.get("/apis"))

    async def fetch(gv: str) -> tuple[str, Obj | str]:
        path = f"/api/{gv}" if "/" not in gv else f"/apis/{gv}"
        try:
            return gv, await client.get(path)
        except ApiError as err:
            return gv, err.message or str(err)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(fetch(gv)) for gv in group_versions]
    for task in tasks:
        gv, result = task.result()
        if isinstance(result, str):
            found.failed[gv] = result
        else:
            deletable(gv, result, found)
    return found


class CachedDiscovery:
    """``discover`` with its answer kept for ``ttl`` seconds (on ``now``'s clock)."""

    def __init__(self, client: ApiClient, now: Callable[[], float], ttl: float = CACHE_SECONDS):
        self._client = client
        self._now = now
        self._ttl = ttl
        self._cached: tuple[float, Discovered] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Discovered:
        async with self._lock:
            if self._cached is not None and self._now() - self._cached[0] < self._ttl:
                return self._cached[1]
            found = await discover(self._client)
            self._cached = (self._now(), found)
            return found
