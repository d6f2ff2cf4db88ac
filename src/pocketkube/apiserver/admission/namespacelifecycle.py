"""NamespaceLifecycle: nothing is created in a namespace that does not exist (404, as upstream)
or is being terminated (403, with a ``NamespaceTerminating`` cause).

Upstream runs it first among the mutating plugins although it changes nothing, so that a write
to a missing namespace is refused before any other plugin looks at it.
"""

from __future__ import annotations

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.apiserver.admission.interface import (
    NAMESPACES,
    Attributes,
    ObjectReader,
    Operation,
    forbidden,
)

NAME = "NamespaceLifecycle"


class NamespaceLifecycle:
    name = NAME

    def __init__(self, reader: ObjectReader) -> None:
        self._reader = reader

    async def admit(self, attrs: Attributes) -> None:
        namespace = attrs.namespace
        if (
            attrs.operation is not Operation.CREATE
            or not attrs.resource.namespaced
            or not namespace
        ):
            return
        found = await self._reader.get(NAMESPACES, "", namespace)
        if found is None:
            raise StatusError(status.not_found("namespaces", namespace))
        if found.get("metadata", {}).get("deletionTimestamp") or (
            found.get("status", {}).get("phase") == "Terminating"
        ):
            refused = forbidden(
                attrs,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )
            refused.status["details"]["causes"] = [
                status.cause(
                    reason="NamespaceTerminating",
                    message=f"namespace {namespace} is being terminated",
                    field="metadata.namespace",
                )
            ]
            raise refused


def new(reader: ObjectReader) -> NamespaceLifecycle:
    return NamespaceLifecycle(reader)
