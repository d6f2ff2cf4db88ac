"""What an admission plugin is given and what it may do (upstream's ``admission.Attributes``,
``MutationInterface`` and ``ValidationInterface``).

A plugin sees one write: the resource, namespace, operation and the object being written (and,
on update, the stored one). A mutating plugin may change the object in place; a validating one
may only refuse it. Either refuses by raising a ``StatusError`` — usually ``forbidden(...)``,
which words the 403 as upstream's ``admission.NewForbidden`` does. Plugins read other objects
(namespaces, service accounts, priority classes) through an ``ObjectReader``, as upstream's
plugins read their informers' listers: what they get back is shared and must not be changed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.apiserver.resources import GroupVersionResource, Resource
from pocketkube.storage.interface import Obj

NAMESPACES = GroupVersionResource("", "v1", "namespaces")
PODS = GroupVersionResource("", "v1", "pods")
SERVICE_ACCOUNTS = GroupVersionResource("", "v1", "serviceaccounts")
PRIORITY_CLASSES = GroupVersionResource("scheduling.k8s.io", "v1", "priorityclasses")


class Operation(enum.StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"


@dataclass(slots=True)
class Attributes:
    """One write under admission. ``obj`` is the request's object, before the registry's
    defaults and validation; mutating plugins change it in place."""

    resource: Resource
    namespace: str
    obj: Obj
    operation: Operation = Operation.CREATE
    old: Obj | None = None
    subresource: str = ""

    def is_resource(self, gvr: GroupVersionResource) -> bool:
        """Whether this is a write to ``gvr``'s group and resource (any version), not to one of
        its subresources."""
        return (
            not self.subresource
            and self.resource.group == gvr.group
            and self.resource.plural == gvr.resource
        )

    @property
    def name(self) -> str:
        """The object's name, else its generateName (no name is generated yet), else
        "Unknown", as upstream names the object in admission errors."""
        meta = self.obj.get("metadata")
        if isinstance(meta, dict):
            return str(meta.get("name") or meta.get("generateName") or "Unknown")
        return "Unknown"

    def spec(self) -> dict[str, Any] | None:
        """The object's ``spec`` when it is an object (a plugin leaves anything else to
        validation)."""
        spec = self.obj.get("spec")
        return spec if isinstance(spec, dict) else None


class ObjectReader(Protocol):
    """Reads other objects for plugins, from the watch caches (a just-created object that the
    cache has not seen yet is read from the datastore)."""

    async def get(
        self, resource: GroupVersionResource, namespace: str, name: str, *, live: bool = True
    ) -> Obj | None:
        """The object (read-only: it may be the cache's own), or None when there is none; with
        ``live=False`` a cache miss is trusted rather than checked against the datastore."""
        ...

    async def list(self, resource: GroupVersionResource, namespace: str = "") -> list[Obj]:
        """Every object of ``resource`` (in ``namespace``, when given), as the cache has them."""
        ...


@runtime_checkable
class MutationInterface(Protocol):
    """A plugin that may change the object (run first, in order)."""

    name: str

    async def admit(self, attrs: Attributes) -> None: ...


@runtime_checkable
class ValidationInterface(Protocol):
    """A plugin that may refuse the object once every mutating plugin has run."""

    name: str

    async def validate(self, attrs: Attributes) -> None: ...


def forbidden(attrs: Attributes, message: str) -> StatusError:
    """403 as ``admission.NewForbidden``: ``pods "x" is forbidden: <message>``."""
    resource, group = attrs.resource.plural, attrs.resource.group
    qualified = f"{resource}.{group}" if group else resource
    return StatusError(
        status.make_status(
            code=403,
            reason="Forbidden",
            message=f'{qualified} "{attrs.name}" is forbidden: {message}',
            name=attrs.name,
            group=group,
            kind=resource,
        )
    )
