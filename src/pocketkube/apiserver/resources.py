"""The API server's catalog of resources: what it serves, where each is stored, how it is named.

Discovery, request routing, RBAC and ``kubectl`` all speak of a resource in the same few ways — a
group/version/resource triple in URLs, a kind in object bodies, a short name or a category on the
command line — so one table answers them all.
:data:`~pocketkube.apiserver.resources_builtin.BUILTIN_RESOURCES` fills it with what a stock
kube-apiserver serves; CustomResourceDefinitions add to it with :meth:`Catalog.register` while the
server runs.

Groups and versions come out in upstream's preferred order (the kube-aggregator's group priorities,
then Kubernetes-aware version order), because clients take the first version of a group as the one
to use and resolve an ambiguous kind or short name to the first group that has it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

REGISTRY_ROOT = "/registry"

# Upstream: DefaultGenericAPIServicePriorities + the kube-apiserver's apiVersionPriorities.
# Higher first; equal priorities are ordered by group name. CRD groups get 1000.
GROUP_PRIORITIES: dict[str, int] = {
    "": 18000,
    "apiregistration.k8s.io": 18000,
    "apps": 17800,
    "events.k8s.io": 17750,
    "authentication.k8s.io": 17700,
    "authorization.k8s.io": 17600,
    "autoscaling": 17500,
    "batch": 17400,
    "certificates.k8s.io": 17300,
    "networking.k8s.io": 17200,
    "policy": 17100,
    "rbac.authorization.k8s.io": 17000,
    "storage.k8s.io": 16800,
    "admissionregistration.k8s.io": 16700,
    "apiextensions.k8s.io": 16700,
    "scheduling.k8s.io": 16600,
    "coordination.k8s.io": 16500,
    "node.k8s.io": 16300,
    "discovery.k8s.io": 16200,
    "flowcontrol.apiserver.k8s.io": 16100,
}
DEFAULT_GROUP_PRIORITY = 1000


class GroupVersion(NamedTuple):
    group: str
    version: str

    @property
    def api_version(self) -> str:
        """``apps/v1``, or plain ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version


class GroupVersionKind(NamedTuple):
    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        return GroupVersion(self.group, self.version).api_version


class GroupVersionResource(NamedTuple):
    group: str
    version: str
    resource: str

    @property
    def api_version(self) -> str:
        return GroupVersion(self.group, self.version).api_version


def storage_version_hash(gvk: GroupVersionKind) -> str:
    """Upstream's discovery ``storageVersionHash``: base64 of the first 8 bytes of
    sha256("group/version/kind") of the version objects are stored in."""
    digest = hashlib.sha256(f"{gvk.group}/{gvk.version}/{gvk.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode("ascii")


_KUBE_VERSION = re.compile(r"^v([1-9][0-9]*)(?:(alpha|beta)([1-9][0-9]*))?$")
_STAGE_RANK = {None: 0, "beta": 1, "alpha": 2}


def version_sort_key(version: str) -> tuple[int, int, int, int, str]:
    """Kubernetes-aware order: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > anything else (by name)."""
    match = _KUBE_VERSION.match(version)
    if match is None:
        return (1, 0, 0, 0, version)
    major, stage, minor = match.groups()
    return (0, _STAGE_RANK[stage], -int(major), -int(minor or 0), "")


def group_sort_key(group: str) -> tuple[int, str]:
    return (-GROUP_PRIORITIES.get(group, DEFAULT_GROUP_PRIORITY), group)


@dataclass(frozen=True, slots=True)
class Subresource:
    """``pods/log``, ``deployments/scale``: what a request to it returns and which verbs it has."""

    name: str
    kind: str
    group: str
    version: str
    verbs: tuple[str, ...]

    @property
    def gvk(self) -> GroupVersionKind:
        return GroupVersionKind(self.group, self.version, self.kind)


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource in one group-version, as discovery describes it and storage keeps it.

    ``persisted`` is False for virtual resources that only accept a create (bindings, the
    review kinds). ``etcd_path`` is the key path below ``/registry`` when it is not the plural
    (upstream's special prefixes such as ``minions`` for nodes, ``group/plural`` for CRDs);
    ``storage_gvk`` is the kind objects are stored as when that is not this version's own (CRDs
    are still stored as v1beta1, events.k8s.io Events as core Events, autoscaling/v1 HPAs as v2);
    None when objects are stored as they are served.
    """

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    persisted: bool = True
    etcd_path: str | None = None
    storage_gvk: GroupVersionKind | None = None

    @property
    def gvk(self) -> GroupVersionKind:
        return GroupVersionKind(self.group, self.version, self.kind)

    @property
    def gvr(self) -> GroupVersionResource:
        return GroupVersionResource(self.group, self.version, self.plural)

    @property
    def group_version(self) -> GroupVersion:
        return GroupVersion(self.group, self.version)

    @property
    def api_version(self) -> str:
        return self.group_version.api_version

    @property
    def scope(self) -> str:
        return "Namespaced" if self.namespaced else "Cluster"

    @property
    def storage_prefix(self) -> str | None:
        """The etcd key prefix, e.g. ``/registry/services/specs/``; None when nothing is stored."""
        if not self.persisted:
            return None
        return f"{REGISTRY_ROOT}/{self.etcd_path or self.plural}/"

    @property
    def storage_version_hash(self) -> str:
        """Empty for virtual resources, as upstream leaves it out for them."""
        if not self.persisted:
            return ""
        return storage_version_hash(self.storage_gvk or self.gvk)

    def subresource(self, name: str) -> Subresource | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None

    def names(self) -> tuple[str, ...]:
        """Every name kubectl accepts for this resource, lower case."""
        return (self.plural, self.singular, self.kind.lower(), *self.short_names)


class Catalog:
    """Resources by group/version/plural, kept in upstream's preferred order for discovery."""

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        self._by_gvr: dict[GroupVersionResource, Resource] = {}
        self._ordered: list[Resource] | None = None
        for resource in resources:
            self.register(resource)

    def register(self, resource: Resource) -> None:
        """Add a resource, or replace the one with the same group/version/plural."""
        self._by_gvr[resource.gvr] = resource
        self._ordered = None

    def unregister(self, group: str, version: str, plural: str) -> Resource | None:
        removed = self._by_gvr.pop(GroupVersionResource(group, version, plural), None)
        self._ordered = None
        return removed

    def __len__(self) -> int:
        return len(self._by_gvr)

    def __iter__(self) -> Iterator[Resource]:
        """Every resource: groups and versions in preferred order, plurals alphabetically."""
        return iter(self._sorted())

    def get(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_gvr.get(GroupVersionResource(group, version, plural))

    def resources(self, group: str, version: str) -> list[Resource]:
        return [r for r in self._sorted() if r.group == group and r.version == version]

    def group_versions(self) -> list[GroupVersion]:
        seen: dict[GroupVersion, None] = {}
        for resource in self._sorted():
            seen.setdefault(resource.group_version, None)
        return list(seen)

    def groups(self) -> list[str]:
        """Named and core groups, in preferred order (the core group is ``""``)."""
        return list(dict.fromkeys(gv.group for gv in self.group_versions()))

    def versions(self, group: str) -> list[str]:
        """A group's versions, preferred first."""
        return [gv.version for gv in self.group_versions() if gv.group == group]

    def preferred_version(self, group: str) -> str | None:
        versions = self.versions(group)
        return versions[0] if versions else None

    def by_kind(
        self, kind: str, group: str | None = None, version: str | None = None
    ) -> Resource | None:
        """The resource serving ``kind``; the preferred group and version when not given."""
        for resource in self._sorted():
            if resource.kind != kind:
                continue
            if group is not None and resource.group != group:
                continue
            if version is not None and resource.version != version:
                continue
            return resource
        return None

    def by_short_name(self, short_name: str) -> Resource | None:
        wanted = short_name.lower()
        for resource in self._sorted():
            if wanted in resource.short_names:
                return resource
        return None

    def by_category(self, category: str) -> list[Resource]:
        """Resources in a category, each in its preferred version, as ``kubectl get all`` wants."""
        found: dict[tuple[str, str], Resource] = {}
        for resource in self._sorted():
            if category in resource.categories:
                found.setdefault((resource.group, resource.plural), resource)
        return list(found.values())

    def resolve(self, name: str) -> Resource | None:
        """A resource as kubectl names it: ``deploy``, ``deployments``, ``Deployment``,
        ``deployments.apps``, ``deployments.v1.apps``; the preferred group and version win."""
        wanted = name.lower()
        # (name, version, group); None matches any
        candidates: list[tuple[str, str | None, str | None]] = [(wanted, None, None)]
        first, _, rest = wanted.partition(".")
        if rest:
            candidates.append((first, None, rest))
            version, _, group = rest.partition(".")
            if group:
                candidates.append((first, version, group))
        for short, version_wanted, group_wanted in candidates:
            for resource in self._sorted():
                if group_wanted is not None and resource.group != group_wanted:
                    continue
                if version_wanted is not None and resource.version != version_wanted:
                    continue
                if short in resource.names():
                    return resource
        return None

    def _sorted(self) -> list[Resource]:
        if self._ordered is None:
            self._ordered = sorted(
                self._by_gvr.values(),
                key=lambda r: (group_sort_key(r.group), version_sort_key(r.version), r.plural),
            )
        return self._ordered


def builtin_catalog() -> Catalog:
    """A fresh catalog of what a stock kube-apiserver serves (see :mod:`.resources_builtin`)."""
    # The data module imports this one, so it is loaded on first use.
    from pocketkube.apiserver import resources_builtin

    return resources_builtin.builtin_catalog()
