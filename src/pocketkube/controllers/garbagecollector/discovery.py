"""What the garbage collector watches, and where an ownerReference's kind lives.

Upstream's ``GetDeletableResources`` and its REST mapper, through the API's discovery documents
(the legacy forms: ``/api``, ``/api/v1``, ``/apis`` and each group-version's
``APIResourceList``):

- **deletable resources**: in each group's preferred version, every resource (not subresource)
  whose verbs include list, watch and delete — custom resources included — except the ignored
  ones (upstream's ``DefaultIgnoredResources``: core ``events``; we also leave out
  ``events.k8s.io`` events, the same objects under another name, so the collector does not copy
  the cluster's busiest and least-owned resource);
- the **mapper**: (apiVersion, kind) → ``Resource`` over every served group-version, so an
  ownerReference naming a non-preferred version still resolves.

A group-version whose document fails is skipped (upstream's partial discovery) and the caller
keeps what it already watches for that group.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient

log = logging.getLogger(__name__)

IGNORED: frozenset[tuple[str, str]] = frozenset({("", "events"), ("events.k8s.io", "events")})
REQUIRED_VERBS = frozenset({"list", "watch", "delete"})


class MappingError(LookupError):
    """No served resource has this apiVersion and kind (perhaps not discovered yet)."""


@dataclass
class Discovered:
    """One discovery pass: the deletable resources and the kind mapper."""

    deletable: set[Resource] = field(default_factory=set)
    by_kind: dict[tuple[str, str], Resource] = field(default_factory=dict)
    failed_groups: set[str] = field(default_factory=set)

    def resource_for(self, api_version: str, kind: str) -> Resource:
        resource = self.by_kind.get((api_version, kind))
        if resource is None:
            raise MappingError(f"unable to map {api_version}/{kind} to a resource")
        return resource


def _split(group_version: str) -> tuple[str, str]:
    group, sep, version = group_version.rpartition("/")
    return (group, version) if sep else ("", group_version)


def parse_resource_list(doc: Mapping[str, Any]) -> list[tuple[Resource, frozenset[str]]]:
    """The resources of one ``APIResourceList`` (subresources left out) with their verbs."""
    group, version = _split(str(doc.get("groupVersion", "")))
    out = []
    for item in doc.get("resources") or ():
        name = str(item.get("name", ""))
        if not name or "/" in name:
            continue
        resource = Resource(
            group=group,
            version=version,
            plural=name,
            namespaced=bool(item.get("namespaced")),
            kind=str(item.get("kind", "")),
        )
        out.append((resource, frozenset(item.get("verbs") or ())))
    return out


def _add(discovered: Discovered, doc: Obj, *, preferred: bool) -> None:
    for resource, verbs in parse_resource_list(doc):
        discovered.by_kind.setdefault((resource.api_version, resource.kind), resource)
        if (
            preferred
            and verbs >= REQUIRED_VERBS
            and (resource.group, resource.plural) not in IGNORED
        ):
            discovered.deletable.add(resource)


async def discover(client: ApiClient) -> Discovered:
    """Read the discovery documents (``ApiError`` when even the roots cannot be read)."""
    discovered = Discovered()
    core = await client.get("/api")
    for version in core.get("versions") or ():
        try:
            doc = await client.get(f"/api/{version}")
        except ApiError as err:
            log.info("garbage collector: discovery of /api/%s failed: %s", version, err)
            discovered.failed_groups.add("")
            continue
        _add(discovered, doc, preferred=version == "v1")
    groups = await client.get("/apis")
    for group in groups.get("groups") or ():
        name = str(group.get("name", ""))
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        for version in group.get("versions") or ():
            group_version = str(version.get("groupVersion", ""))
            try:
                doc = await client.get(f"/apis/{group_version}")
            except ApiError as err:
                log.info("garbage collector: discovery of %s failed: %s", group_version, err)
                discovered.failed_groups.add(name)
                continue
            _add(discovered, doc, preferred=group_version == (preferred or group_version))
    return discovered


def keep_failed(new: Discovered, old: Iterable[Resource]) -> set[Resource]:
    """The deletable set to watch: ``new``'s, plus the old resources of groups whose
    discovery failed this time (upstream keeps their informers)."""
    keep = {r for r in old if r.group in new.failed_groups}
    return new.deletable | keep
